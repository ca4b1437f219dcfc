package ws

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"

	"mqttgate/login"
)

// maxChallengeBody bounds the challenge request body.
const maxChallengeBody = 1024

// maxUsername is the longest user name accepted (login.ValidateName's limit).
const maxUsername = 64

// parseChallengeRequest checks the content type and body of a challenge
// request and returns the user name. Its errors are meant for the client.
func parseChallengeRequest(contentType string, body []byte) (string, error) {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil || mt != "application/json" {
		return "", errors.New("content type must be application/json")
	}
	var req struct {
		Username *string `json:"username"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&req); err != nil {
		return "", fmt.Errorf(`body is not a JSON object like {"username": "alice"}: %v`, jsonErrText(err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return "", errors.New("body has data after the JSON object")
	}
	switch {
	case req.Username == nil:
		return "", errors.New("username is missing")
	case *req.Username == "":
		return "", errors.New("username is empty")
	case len(*req.Username) > maxUsername:
		return "", fmt.Errorf("username is longer than %d bytes", maxUsername)
	}
	if login.ValidateName(*req.Username) != nil {
		return "", errors.New("username may contain only letters, digits, '.', '_', '-' and '@'")
	}
	return *req.Username, nil
}

// jsonErrText shortens decoder errors for clients.
func jsonErrText(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return te.Field + " must be a " + te.Type.String()
	}
	if errors.Is(err, io.EOF) {
		return "empty body"
	}
	return err.Error()
}

// serveChallenge answers POST /api/auth/challenge (chap1 spec section 1).
func (s *Server) serveChallenge(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		jsonError(w, http.StatusMethodNotAllowed, "method "+r.Method+" not allowed; use POST")
		return
	}
	addr := s.clientAddr(r)
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxChallengeBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			jsonError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body is larger than %d bytes", maxChallengeBody))
			return
		}
		jsonError(w, http.StatusBadRequest, "cannot read body")
		return
	}
	user, err := parseChallengeRequest(r.Header.Get("Content-Type"), body)
	if err != nil {
		s.m.challenge("bad_request")
		jsonError(w, http.StatusBadRequest, err.Error())
		return
	}
	ch, err := s.deps.Login.Challenge(user, addr)
	var be *login.BlockedError
	switch {
	case errors.As(err, &be):
		s.m.challenge("blocked")
		ra := retryAfter(be.RetryAfter)
		w.Header().Set("Retry-After", ra)
		n, _ := strconv.Atoi(ra)
		writeJSON(w, http.StatusTooManyRequests, map[string]any{"error": "blocked", "retry_after": n, "message": be.Reason()})
		return
	case err != nil:
		s.m.challenge("error")
		s.log.Error("challenge failed", "addr", addr, "err", err)
		jsonError(w, http.StatusInternalServerError, "internal error")
		return
	}
	s.m.challenge("ok")
	writeJSON(w, http.StatusOK, ch)
}

func jsonError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"internal error"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}
