package login

import (
	"bytes"
	"encoding/hex"
	"testing"
)

// The worked example of docs/chap1.md.
func TestSpecVector(t *testing.T) {
	salt, _ := b64.DecodeString("AAECAwQFBgcICQoLDA0ODw")
	const (
		password = "correct horse battery staple"
		nonce    = "ZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXp7fH1-f4CBgoM"
	)
	ck := ClientKey(password, salt, 4096)
	if got := hex.EncodeToString(ck); got != "9bce4619be25eb19db70fdbbc33a48009d86a1b122ef3b0fe4231a639771ec70" {
		t.Errorf("ClientKey = %s", got)
	}
	v := ComputeVerifier(password, salt, 4096)
	if got := hex.EncodeToString(v.StoredKey); got != "38d61b489057b4a97a6cfe8f56ac3ca66f5eec489a729acb9e85103c54bcd07c" {
		t.Errorf("StoredKey = %s", got)
	}
	if got := AuthMessage(nonce, "alice", "dash-1"); got != "chap1,ZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXp7fH1-f4CBgoM,alice,dash-1" {
		t.Errorf("AuthMessage = %s", got)
	}
	proof := Proof(ck, nonce, "alice", "dash-1")
	if got := b64.EncodeToString(proof); got != "rPXxdYJI8z-Kk9ibbkRIZL1FTENqOPRjRG6mvyr3yOE" {
		t.Errorf("ClientProof = %s", got)
	}
	field := PasswordField(nonce, proof)
	if field != "chap1:ZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXp7fH1-f4CBgoM:rPXxdYJI8z-Kk9ibbkRIZL1FTENqOPRjRG6mvyr3yOE" {
		t.Errorf("password field = %s", field)
	}
	n, p, err := ParsePassword(field)
	if err != nil || n != nonce || !bytes.Equal(p, proof) {
		t.Fatalf("ParsePassword = %q, %x, %v", n, p, err)
	}
	if !checkProof(v.StoredKey, proof, nonce, "alice", "dash-1") {
		t.Error("the spec's proof does not verify")
	}
	if checkProof(v.StoredKey, proof, nonce, "alice", "dash-2") {
		t.Error("the proof verifies for another client id")
	}
}

func TestParsePasswordRejects(t *testing.T) {
	good := "ZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXp7fH1-f4CBgoM"
	proof := "rPXxdYJI8z-Kk9ibbkRIZL1FTENqOPRjRG6mvyr3yOE"
	for _, pw := range []string{
		"", "chap1", "chap1:", "chap1::", "chap1:" + good, "chap1:" + good + ":",
		"chap1:" + good + ":" + proof + "=", "chap1:" + good + "=:" + proof,
		"chap1:abc:" + proof, "chap1:" + good + ":abc", "chap2:" + good + ":" + proof,
		"chap1:" + good + ":" + proof + ":x",
		// Non-canonical spellings: padding bits set in the last character.
		"chap1:" + good + ":" + proof[:42] + "F", "chap1:" + good[:42] + "N:" + proof,
	} {
		if _, _, err := ParsePassword(pw); err == nil {
			t.Errorf("ParsePassword(%q) accepted", pw)
		}
	}
}

func FuzzParsePassword(f *testing.F) {
	f.Add("chap1:ZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXp7fH1-f4CBgoM:rPXxdYJI8z-Kk9ibbkRIZL1FTENqOPRjRG6mvyr3yOE")
	f.Add("chap1::")
	f.Add("secret")
	f.Fuzz(func(t *testing.T, s string) {
		nonce, proof, err := ParsePassword(s)
		if err != nil {
			return
		}
		if len(proof) != 32 {
			t.Fatalf("proof of %d bytes accepted", len(proof))
		}
		if PasswordField(nonce, proof) != s {
			t.Fatalf("round trip of %q gives %q", s, PasswordField(nonce, proof))
		}
	})
}
