// MQTT.js and mqtt-packet log through the "debug" package on every packet;
// the page never turns that on, and its per-call checks showed up at
// 1,000 msg/s. The build (build.mjs) puts this no-op in its place.
function createDebug() {
  const d = () => {};
  d.enabled = false;
  d.log = d;
  d.extend = createDebug;
  d.destroy = () => true;
  return d;
}
createDebug.enable = () => {};
createDebug.disable = () => '';
createDebug.enabled = () => false;
createDebug.default = createDebug;
module.exports = createDebug;
