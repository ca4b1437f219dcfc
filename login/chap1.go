package login

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// Method is the name of the login method, as sent in challenges and in
// MQTT 5's Authentication Method property.
const Method = "chap1"

// DefaultIterations is the PBKDF2 iteration count for new verifiers.
const DefaultIterations = 100000

// MinIterations is the smallest iteration count a verifier may have.
const MinIterations = 4096

const (
	saltLen  = 16
	keyLen   = sha256.Size
	nonceLen = 32
)

var b64 = base64.RawURLEncoding

// b64strict refuses non-canonical encodings (set padding bits), so one
// value has one spelling on the wire.
var b64strict = base64.RawURLEncoding.Strict()

// Verifier is what the server stores for a user: enough to check a proof or
// a plain password, not enough to log in.
type Verifier struct {
	Salt       []byte
	Iterations int
	StoredKey  []byte
}

// NewVerifier derives a verifier for password with a fresh random salt.
func NewVerifier(password string, iterations int) (Verifier, error) {
	if iterations < MinIterations {
		return Verifier{}, fmt.Errorf("login: iterations %d below the minimum %d", iterations, MinIterations)
	}
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return Verifier{}, fmt.Errorf("login: salt: %w", err)
	}
	return ComputeVerifier(password, salt, iterations), nil
}

// ComputeVerifier derives the verifier of password for a given salt and
// iteration count.
func ComputeVerifier(password string, salt []byte, iterations int) Verifier {
	ck := ClientKey(password, salt, iterations)
	sk := sha256.Sum256(ck)
	return Verifier{Salt: append([]byte(nil), salt...), Iterations: iterations, StoredKey: sk[:]}
}

// ClientKey derives HMAC-SHA-256(SaltedPassword, "Client Key") where
// SaltedPassword is PBKDF2-HMAC-SHA-256(password, salt, iterations, 32).
// Clients keep it instead of the password.
func ClientKey(password string, salt []byte, iterations int) []byte {
	salted, err := pbkdf2.Key(sha256.New, password, salt, iterations, keyLen)
	if err != nil {
		// Only possible in FIPS mode with unapproved parameters.
		panic(fmt.Sprintf("login: pbkdf2: %v", err))
	}
	return hmacSum(salted, []byte("Client Key"))
}

// AuthMessage is the message both sides sign.
func AuthMessage(nonce, username, clientID string) string {
	return "chap1," + nonce + "," + username + "," + clientID
}

// Proof computes ClientProof = ClientKey XOR HMAC(StoredKey, AuthMessage).
func Proof(clientKey []byte, nonce, username, clientID string) []byte {
	sk := sha256.Sum256(clientKey)
	sig := hmacSum(sk[:], []byte(AuthMessage(nonce, username, clientID)))
	proof := make([]byte, keyLen)
	subtle.XORBytes(proof, clientKey, sig)
	return proof
}

// PasswordField is the MQTT CONNECT password of the two-step form:
// "chap1:" + nonce + ":" + base64url(proof).
func PasswordField(nonce string, proof []byte) string {
	return Method + ":" + nonce + ":" + b64.EncodeToString(proof)
}

// IsChap1Password reports whether a CONNECT password uses the chap1 form.
func IsChap1Password(password string) bool {
	return strings.HasPrefix(password, Method+":")
}

// ParsePassword splits a chap1 password field into its nonce and proof. It
// checks the shape only: the nonce is 32 bytes of base64url, the proof 32,
// both in their one canonical spelling.
func ParsePassword(password string) (nonce string, proof []byte, err error) {
	rest, ok := strings.CutPrefix(password, Method+":")
	if !ok {
		return "", nil, errors.New("password does not start with \"chap1:\"")
	}
	nonce, enc, ok := strings.Cut(rest, ":")
	if !ok {
		return "", nil, errors.New("password has no proof after the nonce")
	}
	if n, err := b64strict.DecodeString(nonce); err != nil || len(n) != nonceLen {
		return "", nil, errors.New("nonce is not 32 bytes of unpadded base64url")
	}
	proof, err = b64strict.DecodeString(enc)
	if err != nil || len(proof) != keyLen {
		return "", nil, errors.New("proof is not 32 bytes of unpadded base64url")
	}
	return nonce, proof, nil
}

// checkProof reports whether proof answers AuthMessage for storedKey:
// SHA-256(proof XOR HMAC(StoredKey, AuthMessage)) == StoredKey, in constant
// time.
func checkProof(storedKey, proof []byte, nonce, username, clientID string) bool {
	if len(proof) != keyLen || len(storedKey) != keyLen {
		return false
	}
	sig := hmacSum(storedKey, []byte(AuthMessage(nonce, username, clientID)))
	ck := make([]byte, keyLen)
	subtle.XORBytes(ck, proof, sig)
	got := sha256.Sum256(ck)
	return subtle.ConstantTimeCompare(got[:], storedKey) == 1
}

func hmacSum(key, msg []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(msg)
	return m.Sum(nil)
}

func newNonce() (string, error) {
	b := make([]byte, nonceLen)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("login: nonce: %w", err)
	}
	return b64.EncodeToString(b), nil
}
