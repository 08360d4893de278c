/*
 * el_ossl - OpenSSL 3.0 adapter: random bytes, nonce signatures, peer checks.
 */
#include "el_ossl.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

/* The cached CA store: one CA file per process is the normal case. */
static pthread_mutex_t el_ossl_ca_lock = PTHREAD_MUTEX_INITIALIZER;
static X509_STORE *el_ossl_ca_store;
static char *el_ossl_ca_path;
static struct stat el_ossl_ca_st;

/* el_ossl_random - see el_ossl.h */
int el_ossl_random(void *buf, size_t n)
{
	if (n > INT32_MAX)
		return -EINVAL;
	return RAND_bytes(buf, (int)n) == 1 ? 0 : -EIO;
}

/* el_ossl_read_file - see el_ossl.h */
int el_ossl_read_file(const char *path, el_buf *out)
{
	size_t start = out->len;
	ssize_t n;
	int fd, rv = 0;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return -errno;
	for (;;) {
		el_buf_reserve(out, 65536);
		n = read(fd, out->p + out->len, out->cap - out->len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rv = -errno;
			break;
		}
		if (n == 0)
			break;
		out->len += (size_t)n;
		if (out->len - start > EL_OSSL_MAX_FILE) {
			rv = -EFBIG;
			break;
		}
	}
	close(fd);
	if (rv != 0)
		out->len = start;
	return rv;
}

/* el_ossl_bio_file - a memory BIO over the file's bytes (kept in *tmp) */
static BIO *el_ossl_bio_file(const char *file, el_buf *tmp, int *rv)
{
	BIO *bio;

	el_buf_init(tmp);
	if ((*rv = el_ossl_read_file(file, tmp)) != 0)
		return NULL;
	if ((bio = BIO_new_mem_buf(tmp->p, (int)tmp->len)) == NULL)
		*rv = -ENOMEM;
	return bio;
}

/* el_ossl_wipe - clear and free a buffer that held key material */
static void el_ossl_wipe(el_buf *b)
{
	if (b->p)
		OPENSSL_cleanse(b->p, b->cap);
	el_buf_fini(b);
}

/* el_ossl_cert_pem - see el_ossl.h */
int el_ossl_cert_pem(const char *file, el_buf *out)
{
	el_buf tmp;
	BIO *in, *mem = NULL;
	X509 *x = NULL;
	BUF_MEM *bm;
	int rv;

	if ((in = el_ossl_bio_file(file, &tmp, &rv)) == NULL)
		goto out;
	/* PEM_read_bio_X509 skips the key block before the certificate. */
	if ((x = PEM_read_bio_X509(in, NULL, NULL, NULL)) == NULL) {
		rv = -EINVAL;
		goto out;
	}
	if ((mem = BIO_new(BIO_s_mem())) == NULL || PEM_write_bio_X509(mem, x) != 1) {
		rv = -ENOMEM;
		goto out;
	}
	BIO_get_mem_ptr(mem, &bm);
	el_buf_add(out, bm->data, bm->length);
	rv = 0;
out:
	ERR_clear_error();
	X509_free(x);
	BIO_free(mem);
	BIO_free(in);
	el_ossl_wipe(&tmp);
	return rv;
}

/* el_ossl_digest_input - feed the domain separator and the nonce */
static int el_ossl_digest_input(EVP_MD_CTX *md, const uint8_t *nonce, size_t n, bool sign)
{
	static const char ctx_str[] = EL_OSSL_SIGN_CONTEXT; /* sizeof includes the NUL */

	if (sign)
		return EVP_DigestSignUpdate(md, ctx_str, sizeof(ctx_str)) == 1 &&
		       EVP_DigestSignUpdate(md, nonce, n) == 1;
	return EVP_DigestVerifyUpdate(md, ctx_str, sizeof(ctx_str)) == 1 &&
	       EVP_DigestVerifyUpdate(md, nonce, n) == 1;
}

/* el_ossl_sign_nonce - see el_ossl.h */
int el_ossl_sign_nonce(const char *key_file, const uint8_t *nonce, size_t n, el_buf *sig)
{
	el_buf tmp;
	BIO *in;
	EVP_PKEY *key = NULL;
	EVP_MD_CTX *md = NULL;
	size_t siglen = 0;
	int rv;

	if ((in = el_ossl_bio_file(key_file, &tmp, &rv)) == NULL)
		goto out;
	if ((key = PEM_read_bio_PrivateKey(in, NULL, NULL, NULL)) == NULL) {
		rv = -EINVAL;
		goto out;
	}
	rv = -EIO;
	if ((md = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) != 1 ||
	    !el_ossl_digest_input(md, nonce, n, true) ||
	    EVP_DigestSignFinal(md, NULL, &siglen) != 1 || siglen == 0 || siglen > EL_OSSL_MAX_SIG)
		goto out;
	el_buf_reserve(sig, siglen);
	if (EVP_DigestSignFinal(md, (unsigned char *)sig->p + sig->len, &siglen) != 1)
		goto out;
	sig->len += siglen;
	rv = 0;
out:
	ERR_clear_error();
	EVP_MD_CTX_free(md);
	EVP_PKEY_free(key);
	BIO_free(in);
	el_ossl_wipe(&tmp);
	return rv;
}

/* el_ossl_has_crl - does the store hold a revocation list */
static bool el_ossl_has_crl(X509_STORE *store)
{
	STACK_OF(X509_OBJECT) *objs = X509_STORE_get0_objects(store);

	for (int i = 0; i < sk_X509_OBJECT_num(objs); i++)
		if (X509_OBJECT_get_type(sk_X509_OBJECT_value(objs, i)) == X509_LU_CRL)
			return true;
	return false;
}

/* el_ossl_ca_get - the cached store for ca_file, (re)loaded as needed, held */
static int el_ossl_ca_get(const char *ca_file, X509_STORE **out)
{
	struct stat st;
	X509_STORE *store;
	int rv = 0;

	if (stat(ca_file, &st) != 0) {
		rv = -errno;
		/*
		 * After a privilege drop the file may be out of reach: keep
		 * using what was loaded at start (el_ossl_ca_load).
		 */
		pthread_mutex_lock(&el_ossl_ca_lock);
		if (el_ossl_ca_store != NULL && strcmp(el_ossl_ca_path, ca_file) == 0) {
			store = el_ossl_ca_store;
			X509_STORE_up_ref(store);
			pthread_mutex_unlock(&el_ossl_ca_lock);
			*out = store;
			return 0;
		}
		pthread_mutex_unlock(&el_ossl_ca_lock);
		return rv;
	}
	pthread_mutex_lock(&el_ossl_ca_lock);
	if (el_ossl_ca_store != NULL && strcmp(el_ossl_ca_path, ca_file) == 0 &&
	    st.st_mtim.tv_sec == el_ossl_ca_st.st_mtim.tv_sec &&
	    st.st_mtim.tv_nsec == el_ossl_ca_st.st_mtim.tv_nsec &&
	    st.st_size == el_ossl_ca_st.st_size && st.st_ino == el_ossl_ca_st.st_ino) {
		store = el_ossl_ca_store;
	} else {
		char *path = strdup(ca_file);

		store = X509_STORE_new();
		if (store == NULL || path == NULL) {
			rv = -ENOMEM;
		} else if (X509_STORE_load_file(store, ca_file) != 1) {
			rv = -EIO;
		} else if (el_ossl_has_crl(store)) {
			/*
			 * A CRL after the CA certificate (deploy/else-ca.sh
			 * revoke): check it, as NNG's TLS does for the same
			 * file.  Without one, a CRL check would refuse all.
			 */
			X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK);
		}
		if (rv != 0) {
			X509_STORE_free(store);
			free(path);
			ERR_clear_error();
			pthread_mutex_unlock(&el_ossl_ca_lock);
			return rv;
		}
		X509_STORE_free(el_ossl_ca_store); /* our reference; verifiers hold theirs */
		free(el_ossl_ca_path);
		el_ossl_ca_store = store;
		el_ossl_ca_path = path;
		el_ossl_ca_st = st;
	}
	X509_STORE_up_ref(store);
	pthread_mutex_unlock(&el_ossl_ca_lock);
	*out = store;
	return 0;
}

/* el_ossl_ca_load - see el_ossl.h */
int el_ossl_ca_load(const char *ca_file)
{
	X509_STORE *store;
	int rv;

	if ((rv = el_ossl_ca_get(ca_file, &store)) != 0)
		return rv;
	X509_STORE_free(store);
	return 0;
}

/* el_ossl_valid_cn - see el_ossl.h */
int el_ossl_valid_cn(const char *p, size_t len)
{
	size_t i;

	if (len == 0 || len > EL_OSSL_MAX_CN)
		return 0;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)p[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			  (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_';
		if (!ok)
			return 0;
	}
	/* Same rule as else-ca.sh: no leading '.' or '-'. */
	return p[0] != '.' && p[0] != '-';
}

/* el_ossl_cn - exactly one valid CN of x into out; -EACCES otherwise */
static int el_ossl_cn(X509 *x, char *out, size_t cap)
{
	X509_NAME *name = X509_get_subject_name(x);
	ASN1_STRING *s;
	unsigned char *utf8 = NULL;
	int i, len, rv = -EACCES;

	if (name == NULL)
		return -EACCES;
	if ((i = X509_NAME_get_index_by_NID(name, NID_commonName, -1)) < 0)
		return -EACCES;
	if (X509_NAME_get_index_by_NID(name, NID_commonName, i) >= 0)
		return -EACCES; /* two CNs: which one is the host? refuse */
	s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i));
	if (s == NULL || (len = ASN1_STRING_to_UTF8(&utf8, s)) < 0)
		return -EACCES;
	if (el_ossl_valid_cn((const char *)utf8, (size_t)len) && (size_t)len < cap) {
		memcpy(out, utf8, (size_t)len);
		out[len] = '\0';
		rv = 0;
	}
	OPENSSL_free(utf8);
	return rv;
}

/* el_ossl_verify_peer - see el_ossl.h */
int el_ossl_verify_peer(const char *ca_file, el_span cert_pem, const uint8_t *nonce, size_t n,
			el_span sig, char *cn_out, size_t cn_cap)
{
	X509_STORE *store = NULL;
	X509_STORE_CTX *vctx = NULL;
	EVP_MD_CTX *md = NULL;
	EVP_PKEY *pub;
	X509 *x = NULL, *extra = NULL;
	BIO *in = NULL;
	int rv;

	if (cn_cap < 2)
		return -EINVAL;
	cn_out[0] = '\0';
	if (cert_pem.len == 0 || cert_pem.len > EL_OSSL_MAX_CERT || sig.len == 0 ||
	    sig.len > EL_OSSL_MAX_SIG || n == 0)
		return -EINVAL;
	if ((in = BIO_new_mem_buf(cert_pem.p, (int)cert_pem.len)) == NULL)
		return -ENOMEM;
	if ((x = PEM_read_bio_X509(in, NULL, NULL, NULL)) == NULL) {
		rv = -EINVAL;
		goto out;
	}
	/* One certificate only: intermediates are not part of the ELSE PKI. */
	if ((extra = PEM_read_bio_X509(in, NULL, NULL, NULL)) != NULL) {
		rv = -EINVAL;
		goto out;
	}
	if ((rv = el_ossl_ca_get(ca_file, &store)) != 0)
		goto out;
	if ((vctx = X509_STORE_CTX_new()) == NULL) {
		rv = -ENOMEM;
		goto out;
	}
	rv = -EACCES;
	if (X509_STORE_CTX_init(vctx, store, x, NULL) != 1 ||
	    X509_STORE_CTX_set_purpose(vctx, X509_PURPOSE_SSL_CLIENT) != 1)
		goto out;
	if (X509_verify_cert(vctx) != 1)
		goto out; /* chain, purpose, dates */
	if ((rv = el_ossl_cn(x, cn_out, cn_cap)) != 0)
		goto out;
	rv = -EACCES;
	if ((pub = X509_get0_pubkey(x)) == NULL || (md = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, pub) != 1 ||
	    !el_ossl_digest_input(md, nonce, n, false))
		goto out;
	if (EVP_DigestVerifyFinal(md, (const unsigned char *)sig.p, sig.len) != 1)
		goto out;
	rv = 0;
out:
	if (rv != 0)
		cn_out[0] = '\0';
	ERR_clear_error();
	EVP_MD_CTX_free(md);
	X509_STORE_CTX_free(vctx);
	X509_STORE_free(store);
	X509_free(extra);
	X509_free(x);
	BIO_free(in);
	return rv;
}

/* el_ossl_hex - n bytes as lower-case hex into out (2n + 1 bytes) */
static void el_ossl_hex(const uint8_t *p, size_t n, char *out)
{
	static const char d[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = d[p[i] >> 4];
		out[2 * i + 1] = d[p[i] & 15];
	}
	out[2 * n] = '\0';
}

/* el_ossl_unhex - exactly 2n hex digits of s[0..len) into out[n]; -EINVAL */
static int el_ossl_unhex(const char *s, size_t len, uint8_t *out, size_t n)
{
	if (len != 2 * n)
		return -EINVAL;
	for (size_t i = 0; i < 2 * n; i++) {
		int c = (unsigned char)s[i], v;
		if (c >= '0' && c <= '9')
			v = c - '0';
		else if (c >= 'a' && c <= 'f')
			v = c - 'a' + 10;
		else
			return -EINVAL;
		if (i & 1)
			out[i / 2] = (uint8_t)(out[i / 2] | v);
		else
			out[i / 2] = (uint8_t)(v << 4);
	}
	return 0;
}

#define EL_OSSL_KDF_SALT 16
#define EL_OSSL_KDF_OUT 32

/* el_ossl_scrypt - scrypt(password, salt, 2^log2n, r, p) into out[EL_OSSL_KDF_OUT] */
static int el_ossl_scrypt(el_span pw, const uint8_t *salt, size_t saltlen, unsigned log2n,
			  unsigned r, unsigned p, uint8_t *out)
{
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, "SCRYPT", NULL);
	EVP_KDF_CTX *kctx = NULL;
	uint64_t n = (uint64_t)1 << log2n;
	uint32_t r32 = r, p32 = p;
	/* 128 * r * N bytes for V, plus B: allow twice that. */
	uint64_t maxmem = 256ull * r * n + 256ull * r * p + (1u << 20);
	OSSL_PARAM params[7], *q = params;
	static const uint8_t empty[1];
	int rv = -EIO;

	if (kdf == NULL || (kctx = EVP_KDF_CTX_new(kdf)) == NULL)
		goto out;
	*q++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_PASSWORD,
						 pw.len ? (void *)pw.p : (void *)empty, pw.len);
	*q++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt, saltlen);
	*q++ = OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_N, &n);
	*q++ = OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_R, &r32);
	*q++ = OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_P, &p32);
	*q++ = OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_MAXMEM, &maxmem);
	*q = OSSL_PARAM_construct_end();
	if (EVP_KDF_derive(kctx, out, EL_OSSL_KDF_OUT, params) == 1)
		rv = 0;
out:
	ERR_clear_error();
	EVP_KDF_CTX_free(kctx);
	EVP_KDF_free(kdf);
	return rv;
}

/* el_ossl_kdf_hash - see el_ossl.h */
int el_ossl_kdf_hash(el_span password, char *out, size_t cap)
{
	uint8_t salt[EL_OSSL_KDF_SALT], h[EL_OSSL_KDF_OUT];
	char salthex[2 * EL_OSSL_KDF_SALT + 1], hhex[2 * EL_OSSL_KDF_OUT + 1];
	int rv, n;

	if (password.len > EL_OSSL_MAX_PASSWORD || cap < EL_OSSL_KDF_STRLEN)
		return -EINVAL;
	if ((rv = el_ossl_random(salt, sizeof(salt))) != 0)
		return rv;
	if ((rv = el_ossl_scrypt(password, salt, sizeof(salt), EL_OSSL_KDF_LOG2N, 8, 1, h)) != 0)
		return rv;
	el_ossl_hex(salt, sizeof(salt), salthex);
	el_ossl_hex(h, sizeof(h), hhex);
	OPENSSL_cleanse(h, sizeof(h));
	n = snprintf(out, cap, "scrypt$%d$8$1$%s$%s", EL_OSSL_KDF_LOG2N, salthex, hhex);
	return n > 0 && (size_t)n < cap ? 0 : -EINVAL;
}

/* el_ossl_kdf_field - the next '$'-separated field of s from *pos */
static el_span el_ossl_kdf_field(const char *s, size_t len, size_t *pos)
{
	const char *p = s + *pos, *e = memchr(p, '$', len - *pos);
	size_t n = e ? (size_t)(e - p) : len - *pos;

	*pos += n + (e ? 1 : 0);
	return el_span_make(p, n);
}

/* el_ossl_kdf_num - a small decimal in [lo, hi], or -1 */
static long el_ossl_kdf_num(el_span f, long lo, long hi)
{
	long v = 0;

	if (f.len == 0 || f.len > 3)
		return -1;
	for (size_t i = 0; i < f.len; i++) {
		if (f.p[i] < '0' || f.p[i] > '9')
			return -1;
		v = v * 10 + (f.p[i] - '0');
	}
	return v >= lo && v <= hi ? v : -1;
}

/* el_ossl_kdf_verify - see el_ossl.h */
int el_ossl_kdf_verify(el_span password, const char *stored)
{
	uint8_t salt[EL_OSSL_KDF_SALT], want[EL_OSSL_KDF_OUT], got[EL_OSSL_KDF_OUT];
	size_t len, pos = 0;
	el_span f[6];
	long log2n, r, p;
	int rv;

	if (stored == NULL || password.len > EL_OSSL_MAX_PASSWORD)
		return -EINVAL;
	len = strnlen(stored, EL_OSSL_KDF_STRLEN);
	for (int i = 0; i < 6; i++)
		f[i] = pos <= len ? el_ossl_kdf_field(stored, len, &pos) : el_span_make(NULL, 0);
	if (pos != len)
		return -EINVAL; /* a seventh field */
	if (f[0].len != 6 || memcmp(f[0].p, "scrypt", 6) != 0)
		return -EINVAL;
	if ((log2n = el_ossl_kdf_num(f[1], 14, 20)) < 0 || (r = el_ossl_kdf_num(f[2], 1, 32)) < 0 ||
	    (p = el_ossl_kdf_num(f[3], 1, 16)) < 0)
		return -EINVAL;
	if (el_ossl_unhex(f[4].p, f[4].len, salt, sizeof(salt)) != 0 ||
	    el_ossl_unhex(f[5].p, f[5].len, want, sizeof(want)) != 0)
		return -EINVAL;
	if ((rv = el_ossl_scrypt(password, salt, sizeof(salt), (unsigned)log2n, (unsigned)r,
				 (unsigned)p, got)) != 0)
		return rv;
	rv = CRYPTO_memcmp(got, want, sizeof(got)) == 0 ? 0 : -EACCES;
	OPENSSL_cleanse(got, sizeof(got));
	return rv;
}

/* el_ossl_sha256 - see el_ossl.h */
int el_ossl_sha256(const void *p, size_t n, uint8_t out[32])
{
	unsigned int len = 0;

	if (EVP_Digest(p, n, out, &len, EVP_sha256(), NULL) != 1 || len != 32) {
		ERR_clear_error();
		return -EIO;
	}
	return 0;
}

/* el_ossl_ct_eq - see el_ossl.h */
int el_ossl_ct_eq(const void *a, const void *b, size_t n)
{
	return CRYPTO_memcmp(a, b, n) == 0;
}

/* el_ossl_token_hex - see el_ossl.h */
int el_ossl_token_hex(char *out, size_t n)
{
	uint8_t b[64];
	int rv;

	if (n == 0 || n > sizeof(b))
		return -EINVAL;
	if ((rv = el_ossl_random(b, n)) != 0)
		return rv;
	el_ossl_hex(b, n, out);
	OPENSSL_cleanse(b, sizeof(b));
	return 0;
}
