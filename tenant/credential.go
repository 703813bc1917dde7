package tenant

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strings"
)

// Passwords are stored as salted SHA-256: hash = SHA-256(salt ‖ password)
// with a 16-byte random salt per credential, encoded as
//
//	sha256$<salt, base64url>$<hash, base64url>
//
// Why not PBKDF2/scrypt/argon2: AUTH runs on the event loop, and a slow hash
// there (hundreds of milliseconds by design) would let any client stall
// every connection of the loop with AUTH attempts. Tenant passwords are
// machine credentials (generated, long) rather than human ones, so a fast
// salted hash is the Redis ACL trade-off (Redis keeps unsalted SHA-256). The
// "sha256$" prefix leaves room for another scheme later. The file holding
// the hashes is written 0600.
const (
	hashScheme  = "sha256"
	saltLen     = 16
	MaxPassword = 512 // bytes, as requirepass
)

// credential is a parsed password hash.
type credential struct {
	salt [saltLen]byte
	hash [sha256.Size]byte
}

// ctEqual is the constant-time comparison every password check goes
// through. ctHook (nil outside tests) lets a test observe that it is used;
// a direct call, not a function variable, so the digests stay on the stack.
func ctEqual(a, b []byte) int {
	if ctHook != nil {
		ctHook()
	}
	return subtle.ConstantTimeCompare(a, b)
}

var ctHook func()

func newCredential(password string) (*credential, error) {
	if len(password) == 0 || len(password) > MaxPassword {
		return nil, ErrInvalidPassword
	}
	c := &credential{}
	if _, err := rand.Read(c.salt[:]); err != nil {
		return nil, err
	}
	c.hash = saltedHash(&c.salt, []byte(password))
	return c, nil
}

// saltedHash hashes salt ‖ password without allocating (password is at
// most MaxPassword bytes; callers check).
func saltedHash(salt *[saltLen]byte, password []byte) [sha256.Size]byte {
	var buf [saltLen + MaxPassword]byte
	n := copy(buf[:], salt[:])
	n += copy(buf[n:], password)
	return sha256.Sum256(buf[:n])
}

// check compares password with the credential in constant time (for a
// given length of input).
func (c *credential) check(password []byte) bool {
	if len(password) > MaxPassword {
		password = password[:0] // hash something anyway: same work on every path
		h := saltedHash(&c.salt, password)
		ctEqual(h[:], c.hash[:])
		return false
	}
	h := saltedHash(&c.salt, password)
	return ctEqual(h[:], c.hash[:]) == 1
}

func (c *credential) String() string {
	return hashScheme + "$" + base64.RawURLEncoding.EncodeToString(c.salt[:]) + "$" +
		base64.RawURLEncoding.EncodeToString(c.hash[:])
}

func parseCredential(s string) (*credential, error) {
	parts := strings.Split(s, "$")
	if len(parts) != 3 || parts[0] != hashScheme {
		return nil, fmt.Errorf("password hash: unknown format (want %s$salt$hash)", hashScheme)
	}
	c := &credential{}
	salt, err1 := base64.RawURLEncoding.DecodeString(parts[1])
	hash, err2 := base64.RawURLEncoding.DecodeString(parts[2])
	if err1 != nil || err2 != nil || len(salt) != saltLen || len(hash) != sha256.Size {
		return nil, fmt.Errorf("password hash: bad salt or hash encoding")
	}
	copy(c.salt[:], salt)
	copy(c.hash[:], hash)
	return c, nil
}

// dummyCredential is checked when AUTH names an unknown tenant, so the
// answer takes the same time as a wrong password.
var dummyCredential = func() *credential {
	c, _ := newCredential("x")
	return c
}()

// checkPlain compares password with a plain secret (requirepass) in
// constant time: both are hashed first so the comparison does not depend on
// the lengths.
func checkPlain(password []byte, secret string) bool {
	if len(password) > MaxPassword {
		return false
	}
	var buf [MaxPassword]byte
	n := copy(buf[:], secret)
	if n < len(secret) {
		return false
	}
	a := sha256.Sum256(password)
	b := sha256.Sum256(buf[:n])
	return ctEqual(a[:], b[:]) == 1
}

// GeneratePassword returns a random password (26 characters of base32,
// 130 bits), as the credentials route uses when none is given.
func GeneratePassword() string { return rand.Text() }
