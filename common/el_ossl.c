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
#include <openssl/evp.h>
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
