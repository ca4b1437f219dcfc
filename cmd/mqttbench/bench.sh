#!/usr/bin/env bash
# bench.sh — mqttgate against Mosquitto, side by side (`make bench`).
#
# Builds bin/mqttgate and bin/mqttbench, installs Debian's mosquitto when
# missing, then runs every scenario against both brokers, alternating
# A B A B (a fresh broker process per run, so idle RSS and queues start
# clean), and prints a table of medians with min-max spread, losses and the
# ratio mqttgate/Mosquitto. Raw results: bin/bench/results.jsonl.
#
# Knobs (environment):
#   BENCH_REPS=3            runs per scenario and broker
#   BENCH_DURATION=4s       publishing time of each throughput/latency run
#   BENCH_IDLE_TCP=5000     idle TCP connections held
#   BENCH_IDLE_WS=1000      idle WebSocket connections held
#   BENCH_HTTP_TLS=auto     mqttgate's http.tls (auto = wss, as shipped; off = plain ws like Mosquitto's listener)
#   BENCH_SYNC_INTERVAL=    mqttgate's mqtt.sync_interval (empty = the shipped default, 0s: fsync per change)
#   BENCH_MQTT=4            MQTT protocol version (4 = 3.1.1, 5)
#   BENCH_ONLY=REGEX        run only scenarios whose name matches, e.g. 'fanin'
#   BENCH_BROKERS="mqttgate mosquitto"
#   BENCH_HISTORY_FILTERS=0 history filters on mqttgate matching the benchmark topics (0 to 10)
set -euo pipefail
cd "$(dirname "$0")/../.."

REPS=${BENCH_REPS:-3}
DUR=${BENCH_DURATION:-4s}
IDLE_TCP=${BENCH_IDLE_TCP:-5000}
IDLE_WS=${BENCH_IDLE_WS:-1000}
HTTP_TLS=${BENCH_HTTP_TLS:-auto}
MQTTV=${BENCH_MQTT:-4}
SYNC=${BENCH_SYNC_INTERVAL:-}
ONLY=${BENCH_ONLY:-.}
BROKERS=${BENCH_BROKERS:-mqttgate mosquitto}
HISTORY_FILTERS=${BENCH_HISTORY_FILTERS:-0}
# history_topics prints a YAML list of $HISTORY_FILTERS filters that each
# match the benchmark topics (mqttbench/<run>/p<i>, mqttbench/<run>/t; the
# last two the fan-out one only).
history_topics() {
	local all=("mqttbench/#" "mqttbench/+/+" "+/+/+" "mqttbench/+/#" "+/#" "#" "+/+/#" "+/+/+/#" "+/+/t" "mqttbench/+/t")
	local out="" i
	for ((i = 0; i < HISTORY_FILTERS && i < ${#all[@]}; i++)); do out+="\"${all[$i]}\", "; done
	echo "[${out%, }]"
}

say() { printf 'bench: %s\n' "$*" >&2; }

go build -o bin/mqttgate ./cmd/mqttgate
go build -o bin/mqttbench ./cmd/mqttbench

MOSQ=$(command -v mosquitto || true)
[ -z "$MOSQ" ] && [ -x /usr/sbin/mosquitto ] && MOSQ=/usr/sbin/mosquitto
if [ -z "$MOSQ" ]; then
	say "installing mosquitto from Debian"
	apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q mosquitto >&2
	MOSQ=/usr/sbin/mosquitto
fi

# mqttgate runs with the environment its systemd unit sets (GOMEMLIMIT,
# GODEBUG): the gateway as installed.
read -r -a GATE_ENV <<<"$(sed -n 's/^Environment=//p' systemd/mqttgate.service | tr '\n' ' ')"
say "mqttgate environment (from systemd/mqttgate.service): ${GATE_ENV[*]}"

ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" || true

OUT=bin/bench
mkdir -p "$OUT"
RESULTS=$OUT/results.jsonl
: >"$RESULTS"
WORK=$(mktemp -d /tmp/mqttbench.XXXXXX)
chmod 755 "$WORK"
PID=
cleanup() {
	[ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
	rm -rf "$WORK"
}
trap cleanup EXIT

wait_port() { # port seconds
	local i
	for ((i = 0; i < $2 * 20; i++)); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
		sleep 0.05
	done
	return 1
}

# start_broker NAME: starts a fresh broker, sets PID and TARGET_TCP/TARGET_WS
# (mqttbench arguments for each transport).
start_broker() {
	local name=$1 dir=$WORK/$1-$RANDOM$RANDOM
	mkdir -p "$dir"
	chmod 755 "$dir"
	local p w
	case $name in
	mqttgate)
		# Port 0: the gateway picks free ports and writes them to --addr-file.
		cat >"$dir/mqttgate.yaml" <<EOF
log:
  level: warn
mqtt:
  addr: 127.0.0.1:0
  allow_anonymous: true
  anonymous_role: admin
${SYNC:+  sync_interval: $SYNC}
history:
  topics: $(history_topics)
http:
  addr: 127.0.0.1:0
  tls: $HTTP_TLS
  # The defaults (256 in total, 16 per address) refuse fan-out's 51 and the
  # idle scenario's connections, all from 127.0.0.1.
  max_connections: 20000
  max_connections_per_addr: 20000
  # ... and so do the pre-login bounds (32, 4 per address) when many
  # connections dial at once.
  max_prelogin_connections: 20000
  max_prelogin_connections_per_addr: 20000
EOF
		env "${GATE_ENV[@]}" bin/mqttgate run -c "$dir/mqttgate.yaml" --data-dir "$dir/data" \
			--addr-file "$dir/addrs.json" >"$dir/log" 2>&1 &
		PID=$!
		local i
		for ((i = 0; i < 400; i++)); do [ -s "$dir/addrs.json" ] && break; sleep 0.05; done
		p=$(sed -n 's/.*"mqtt":"[^"]*:\([0-9]*\)".*/\1/p' "$dir/addrs.json" 2>/dev/null)
		w=$(sed -n 's/.*"http":"[^"]*:\([0-9]*\)".*/\1/p' "$dir/addrs.json" 2>/dev/null)
		local scheme=wss
		[ "$HTTP_TLS" = off ] && scheme=ws
		TARGET_TCP="-addr 127.0.0.1:$p"
		TARGET_WS="-url $scheme://127.0.0.1:$w/mqtt -user admin -password-file $dir/data/initial-admin-password"
		;;
	mosquitto)
		# Mosquitto cannot report a port-0 bind: ports free a moment ago.
		p=$(bin/mqttbench freeport)
		w=$(bin/mqttbench freeport)
		cat >"$dir/mosquitto.conf" <<EOF
listener $p 127.0.0.1
listener $w 127.0.0.1
protocol websockets
allow_anonymous true
persistence false
max_queued_messages 1000000
# Without this Mosquitto leaves Nagle on: its p99 at 1000 msg/s becomes ~10 ms
# (delayed ACKs), an unfair comparison in mqttgate's favour.
set_tcp_nodelay true
EOF
		"$MOSQ" -c "$dir/mosquitto.conf" >"$dir/log" 2>&1 &
		PID=$!
		TARGET_TCP="-addr 127.0.0.1:$p"
		TARGET_WS="-url ws://127.0.0.1:$w/mqtt"
		;;
	esac
	if [ -z "$p" ] || [ -z "$w" ] || ! wait_port "$p" 20 || ! wait_port "$w" 20; then
		say "$name did not start; its log:"
		cat "$dir/log" >&2
		return 1
	fi
	if [ "$name" = mqttgate ]; then
		local i
		for ((i = 0; i < 200; i++)); do [ -s "$dir/data/initial-admin-password" ] && break; sleep 0.05; done
	fi
	sleep 0.3 # let the broker settle before RSS or timing is read
}

stop_broker() {
	if [ -n "$PID" ]; then
		kill "$PID" 2>/dev/null || true
		wait "$PID" 2>/dev/null || true
		PID=
	fi
}

# name|transport|mqttbench arguments
SCENARIOS=(
	"fanin-tcp-q0|tcp|-scenario fanin -qos 0 -duration $DUR"
	"fanin-ws-q0|ws|-scenario fanin -qos 0 -duration $DUR"
	"fanin-tcp-q1|tcp|-scenario fanin -qos 1 -duration $DUR"
	"fanin-ws-q1|ws|-scenario fanin -qos 1 -duration $DUR"
	"fanout-tcp-q0|tcp|-scenario fanout -qos 0 -duration $DUR"
	"fanout-ws-q0|ws|-scenario fanout -qos 0 -duration $DUR"
	"fanout-tcp-q1|tcp|-scenario fanout -qos 1 -duration $DUR"
	"fanout-ws-q1|ws|-scenario fanout -qos 1 -duration $DUR"
	"latency-tcp|tcp|-scenario latency -qos 0 -rate 1000 -duration $DUR"
	"latency-ws|ws|-scenario latency -qos 0 -rate 1000 -duration $DUR"
	"idle-tcp|tcp|-scenario idle -conns $IDLE_TCP -hold 3s"
	"idle-ws|ws|-scenario idle -conns $IDLE_WS -hold 3s -dial-parallel 8"
)

start=$(date +%s)
for ((rep = 1; rep <= REPS; rep++)); do
	for s in "${SCENARIOS[@]}"; do
		IFS='|' read -r name transport args <<<"$s"
		[[ $name =~ $ONLY ]] || continue
		for broker in $BROKERS; do
			if ! start_broker "$broker"; then
				stop_broker
				echo "{\"broker\":\"$broker\",\"scenario\":\"${name%%-*}\",\"transport\":\"$transport\",\"error\":\"broker did not start\"}" >>"$RESULTS"
				continue
			fi
			target=$TARGET_TCP
			[ "$transport" = ws ] && target=$TARGET_WS
			say "rep $rep/$REPS $name $broker"
			# shellcheck disable=SC2086
			timeout 180 bin/mqttbench -broker "$broker" -transport "$transport" -mqtt "$MQTTV" \
				-pid "$PID" $target $args >>"$RESULTS" || say "$name $broker: run failed (see the line above)"
			stop_broker
		done
	done
done

say "done in $(($(date +%s) - start)) s; results in $RESULTS"
echo
echo "mqttbench: medians of $REPS runs [min-max], mqttgate/Mosquitto ratio; MQTT $MQTTV, 64-byte payloads, $DUR per run, mqttgate http.tls=$HTTP_TLS${SYNC:+, mqtt.sync_interval=$SYNC}"
bin/mqttbench table "$RESULTS"
