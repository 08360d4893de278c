/*
 * el_ossl - the adapter between ELSE and OpenSSL 3.0: random bytes, the
 * collector's (and frontend's) proof of identity and its verification by
 * the backend, password hashing (scrypt) and session tokens.
 *
 * NNG 1.5 cannot tell the backend which certificate a TLS peer presented, so
 * proto/ingest.proto has the collector prove it in the protocol: the backend
 * hands each new connection a random nonce, the collector signs
 *     SHA-256("else-ingest-v1\0" || nonce)
 * with its private key and sends the signature with its certificate; the
 * backend checks that the certificate chains to the ELSE CA for client use
 * and that the signature verifies with its public key, then takes the
 * certificate's CN as the host identity.  Only this module includes OpenSSL
 * headers.
 *
 * OWNERSHIP: outputs go to caller storage (el_buf, char arrays).
 * ERRORS: 0 or a negative errno.  el_ossl_verify_peer: -EINVAL for input it
 * cannot parse (PEM, DER signature), -EACCES for anything refused (chain,
 * purpose, validity dates, signature, CN), -EIO/-ENOMEM when OpenSSL or the
 * CA file fails.
 * THREADS: all functions are safe from any thread.  The CA store is loaded
 * once per CA file and cached (reloaded when the file's mtime, size or
 * inode changes), shared read-only by all verifying threads.
 * SECURITY: cert_pem and sig come from the network: both are length-bounded
 * before parsing (EL_OSSL_MAX_CERT, EL_OSSL_MAX_SIG); the CN is copied only
 * if it is 1..253 bytes of [A-Za-z0-9._-] (the same rule as
 * deploy/else-ca.sh) and there is exactly one.  Revocation: a CRL in
 * ca_file (after the CA certificate, as `else-ca.sh revoke` writes it) is
 * checked, and one past its end date refuses every certificate.
 */
#ifndef EL_OSSL_H
#define EL_OSSL_H

#include <stddef.h>
#include <stdint.h>

#include "el_buf.h"
#include "el_span.h"

#define EL_OSSL_MAX_CERT 16384 /* one PEM certificate (a chain is not accepted) */
#define EL_OSSL_MAX_SIG 1024   /* DER ECDSA P-256 is <= 72, RSA-4096 512 */
#define EL_OSSL_MAX_CN 253     /* a DNS name */
#define EL_OSSL_MAX_FILE (1 << 20)

/* The domain separator signed before the nonce, NUL included. */
#define EL_OSSL_SIGN_CONTEXT "else-ingest-v1"

/* el_ossl_random - n bytes from the OS CSPRNG (RAND_bytes); -EIO on failure */
int el_ossl_random(void *buf, size_t n);

/*
 * el_ossl_read_file - append the whole file at path to out (at most
 * EL_OSSL_MAX_FILE bytes: -EFBIG past that).
 */
int el_ossl_read_file(const char *path, el_buf *out);

/*
 * el_ossl_cert_pem - append to out the first certificate of file (PEM; a
 * combined key+certificate file is fine) re-encoded as PEM: what a collector
 * sends in Auth.  The private key in the same file is never copied.
 */
int el_ossl_cert_pem(const char *file, el_buf *out);

/*
 * el_ossl_sign_nonce - append to sig the signature (DER) with the private key
 * of key_file (PEM; a combined key+certificate file is fine) over
 * SHA-256(EL_OSSL_SIGN_CONTEXT "\0" || nonce[0..n)).
 */
int el_ossl_sign_nonce(const char *key_file, const uint8_t *nonce, size_t n, el_buf *sig);

/*
 * el_ossl_verify_peer - the backend's check of an Auth message: cert_pem must
 * be one certificate that chains to ca_file with purpose "SSL client", is
 * valid now and not revoked by a CRL in ca_file; sig must verify over the nonce as above with its public key.  On
 * success the CN is copied NUL-terminated to cn_out (cn_cap >= 2).
 */
int el_ossl_verify_peer(const char *ca_file, el_span cert_pem, const uint8_t *nonce, size_t n,
			el_span sig, char *cn_out, size_t cn_cap);

/*
 * el_ossl_ca_load - load ca_file into the cache now: at start, before a
 * privilege drop, so a bad or unreadable CA fails the start rather than
 * every Auth.  If the file later becomes unreachable (stat fails), the
 * cached store keeps serving; a readable, changed file is reloaded.
 */
int el_ossl_ca_load(const char *ca_file);

/* el_ossl_valid_cn - is p[0..len) an acceptable identity (see SECURITY) */
int el_ossl_valid_cn(const char *p, size_t len);

/*
 * Passwords (the query service's users).  el_ossl_kdf_hash makes the stored
 * string "scrypt$LOG2N$R$P$SALT_HEX$HASH_HEX" with a fresh 16-byte salt from
 * RAND_bytes and scrypt (EVP_KDF "SCRYPT") at N = 2^EL_OSSL_KDF_LOG2N, r = 8,
 * p = 1 (32 MiB, ~0.1 s per hash here): out needs EL_OSSL_KDF_STRLEN bytes.
 * el_ossl_kdf_verify recomputes with the parameters of the stored string
 * (log2 N 14..20, r 1..32, p 1..16, else -EINVAL) and compares in constant
 * time: 0 on a match, -EACCES on a mismatch.  Passwords are bounded by
 * EL_OSSL_MAX_PASSWORD bytes (-EINVAL).
 */
#define EL_OSSL_KDF_LOG2N 15
#define EL_OSSL_KDF_STRLEN 160
#define EL_OSSL_MAX_PASSWORD 1024
int el_ossl_kdf_hash(el_span password, char *out, size_t cap);
int el_ossl_kdf_verify(el_span password, const char *stored);

/* el_ossl_sha256 - SHA-256 of p[0..n) into out[32] */
int el_ossl_sha256(const void *p, size_t n, uint8_t out[32]);

/* el_ossl_ct_eq - constant-time comparison of two equal-length byte strings */
int el_ossl_ct_eq(const void *a, const void *b, size_t n);

/* el_ossl_token_hex - n random bytes (n <= 64) as 2n lower-case hex digits + NUL */
int el_ossl_token_hex(char *out, size_t n);

#endif
