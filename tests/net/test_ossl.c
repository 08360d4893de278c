/*
 * test_ossl - the collector's proof of identity (el_ossl): a signature made
 * with a collector's key verifies against the ELSE CA and yields its CN;
 * every way to get it wrong is refused with the documented code.  Needs the
 * certificates of tests/net/certs.sh in $ELSE_TEST_CERTS (tests/net/run.sh).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "el_buf.h"
#include "el_ossl.h"

static char to_dir[1024];

/* to_path - $ELSE_TEST_CERTS/rel */
static const char *to_path(const char *rel)
{
	static char buf[4][2048];
	static int i;
	char *p = buf[i++ & 3];

	snprintf(p, sizeof(buf[0]), "%s/%s", to_dir, rel);
	return p;
}

static void to_init(void)
{
	const char *d = getenv("ELSE_TEST_CERTS");

	cr_assert(d != NULL, "run through tests/net/run.sh (ELSE_TEST_CERTS unset)");
	snprintf(to_dir, sizeof(to_dir), "%s", d);
}

TestSuite(ossl, .init = to_init, .timeout = 30);

/* to_cert - the certificate part of a combined PEM file */
static el_buf to_cert(const char *rel)
{
	el_buf b;

	el_buf_init(&b);
	cr_assert_eq(el_ossl_cert_pem(to_path(rel), &b), 0, "%s", rel);
	return b;
}

/* to_verify - sign a fresh nonce with key_rel, verify cert_rel against ca_rel */
static int to_verify(const char *ca_rel, const char *cert_rel, const char *key_rel, char *cn,
		     size_t cap)
{
	uint8_t nonce[32];
	el_buf cert = to_cert(cert_rel), sig;
	int rv;

	el_buf_init(&sig);
	cr_assert_eq(el_ossl_random(nonce, sizeof(nonce)), 0);
	cr_assert_eq(el_ossl_sign_nonce(to_path(key_rel), nonce, sizeof(nonce), &sig), 0);
	rv = el_ossl_verify_peer(to_path(ca_rel), el_span_make(cert.p, cert.len), nonce,
				 sizeof(nonce), el_span_make(sig.p, sig.len), cn, cap);
	el_buf_fini(&cert);
	el_buf_fini(&sig);
	return rv;
}

/* to_verify_abs - to_verify with mx1's certificate and an absolute CA path */
static int to_verify_abs(const char *ca_path, char *cn, size_t cap)
{
	uint8_t nonce[32];
	el_buf cert = to_cert("ca1/client-mx1.example.org.pem"), sig;
	int rv;

	el_buf_init(&sig);
	cr_assert_eq(el_ossl_random(nonce, sizeof(nonce)), 0);
	cr_assert_eq(el_ossl_sign_nonce(to_path("ca1/client-mx1.example.org.pem"), nonce,
					sizeof(nonce), &sig),
		     0);
	rv = el_ossl_verify_peer(ca_path, el_span_make(cert.p, cert.len), nonce, sizeof(nonce),
				 el_span_make(sig.p, sig.len), cn, cap);
	el_buf_fini(&cert);
	el_buf_fini(&sig);
	return rv;
}

Test(ossl, sign_verify_round_trip_yields_cn)
{
	char cn[256];

	cr_assert_eq(to_verify("ca1/ca.crt", "ca1/client-mx1.example.org.pem",
			       "ca1/client-mx1.example.org.pem", cn, sizeof(cn)),
		     0);
	cr_assert_str_eq(cn, "mx1.example.org");
	/* Twice: the second verification uses the cached CA store. */
	cr_assert_eq(to_verify("ca1/ca.crt", "ca1/client-mx2.example.org.pem",
			       "ca1/client-mx2.example.org.pem", cn, sizeof(cn)),
		     0);
	cr_assert_str_eq(cn, "mx2.example.org");
}

Test(ossl, cert_from_another_ca_refused)
{
	char cn[256] = "x";

	cr_assert_eq(to_verify("ca1/ca.crt", "ca2/client-mx1.example.org.pem",
			       "ca2/client-mx1.example.org.pem", cn, sizeof(cn)),
		     -EACCES);
	cr_assert_str_eq(cn, "");
	/* And the other way round: switching CA files reloads the cache. */
	cr_assert_eq(to_verify("ca2/ca.crt", "ca1/client-mx1.example.org.pem",
			       "ca1/client-mx1.example.org.pem", cn, sizeof(cn)),
		     -EACCES);
	cr_assert_eq(to_verify("ca2/ca.crt", "ca2/client-mx1.example.org.pem",
			       "ca2/client-mx1.example.org.pem", cn, sizeof(cn)),
		     0);
}

Test(ossl, signature_by_another_key_refused)
{
	char cn[256];

	/* mx2 signs, presents mx1's certificate: a stolen certificate is useless. */
	cr_assert_eq(to_verify("ca1/ca.crt", "ca1/client-mx1.example.org.pem",
			       "ca1/client-mx2.example.org.pem", cn, sizeof(cn)),
		     -EACCES);
}

Test(ossl, tampered_signature_or_nonce_refused)
{
	uint8_t nonce[32];
	el_buf cert = to_cert("ca1/client-mx1.example.org.pem"), sig;
	char cn[256];
	size_t i;

	el_buf_init(&sig);
	cr_assert_eq(el_ossl_random(nonce, sizeof(nonce)), 0);
	cr_assert_eq(el_ossl_sign_nonce(to_path("ca1/client-mx1.example.org.pem"), nonce,
					sizeof(nonce), &sig),
		     0);
	cr_assert(sig.len > 8 && sig.len <= 72, "ECDSA P-256 DER: %zu", sig.len);
	/* Every byte position flipped: refused, never accepted, never a crash. */
	for (i = 0; i < sig.len; i++) {
		sig.p[i] ^= 0x01;
		int rv = el_ossl_verify_peer(to_path("ca1/ca.crt"), el_span_make(cert.p, cert.len),
					     nonce, sizeof(nonce), el_span_make(sig.p, sig.len), cn,
					     sizeof(cn));
		cr_assert_eq(rv, -EACCES, "byte %zu: %d", i, rv);
		sig.p[i] ^= 0x01;
	}
	/* The right signature over another nonce (a replay on another pipe). */
	nonce[0] ^= 0x80;
	cr_assert_eq(el_ossl_verify_peer(to_path("ca1/ca.crt"), el_span_make(cert.p, cert.len),
					 nonce, sizeof(nonce), el_span_make(sig.p, sig.len), cn,
					 sizeof(cn)),
		     -EACCES);
	nonce[0] ^= 0x80;
	cr_assert_eq(el_ossl_verify_peer(to_path("ca1/ca.crt"), el_span_make(cert.p, cert.len),
					 nonce, sizeof(nonce), el_span_make(sig.p, sig.len), cn,
					 sizeof(cn)),
		     0);
	el_buf_fini(&cert);
	el_buf_fini(&sig);
}

Test(ossl, expired_cert_refused)
{
	char cn[256];

	cr_assert_eq(to_verify("ca1/ca.crt", "bad/expired.pem", "bad/expired.pem", cn, sizeof(cn)),
		     -EACCES);
}

Test(ossl, revoked_cert_refused)
{
	char cn[256];
	el_buf ca;
	char *crl;
	FILE *f;

	cr_assert_eq(to_verify("ca1/ca.crt", "bad/revoked.pem", "bad/revoked.pem", cn, sizeof(cn)),
		     -EACCES);
	cr_assert_str_eq(cn, "");
	cr_assert_eq(to_verify("ca1/ca.crt", "ca1/client-mx1.example.org.pem",
			       "ca1/client-mx1.example.org.pem", cn, sizeof(cn)),
		     0, "a certificate the CRL does not name still verifies");
	/* The same CA without its CRL: the revoked certificate is otherwise fine. */
	el_buf_init(&ca);
	cr_assert_eq(el_ossl_read_file(to_path("ca1/ca.crt"), &ca), 0);
	el_buf_addc(&ca, '\0');
	crl = strstr(ca.p, "-----BEGIN X509 CRL-----");
	cr_assert(crl != NULL, "ca1/ca.crt carries no CRL");
	f = fopen(to_path("ca1/ca-nocrl.crt"), "w");
	cr_assert(f != NULL);
	cr_assert_eq(fwrite(ca.p, 1, (size_t)(crl - ca.p), f), (size_t)(crl - ca.p));
	cr_assert_eq(fclose(f), 0);
	el_buf_fini(&ca);
	cr_assert_eq(
		to_verify("ca1/ca-nocrl.crt", "bad/revoked.pem", "bad/revoked.pem", cn, sizeof(cn)),
		0);
	cr_assert_str_eq(cn, "mx9.example.org");
}

Test(ossl, cn_with_bad_chars_refused)
{
	char cn[256];

	cr_assert_eq(to_verify("ca1/ca.crt", "bad/badcn.pem", "bad/badcn.pem", cn, sizeof(cn)),
		     -EACCES);
	cr_assert_str_eq(cn, "");
}

Test(ossl, two_cns_refused)
{
	char cn[256];

	cr_assert_eq(to_verify("ca1/ca.crt", "bad/twocn.pem", "bad/twocn.pem", cn, sizeof(cn)),
		     -EACCES);
}

Test(ossl, server_only_cert_refused_as_client)
{
	char cn[256];

	cr_assert_eq(
		to_verify("ca1/ca.crt", "bad/noclient.pem", "bad/noclient.pem", cn, sizeof(cn)),
		-EACCES);
	/* The backend's own server certificate is no collector identity either. */
	cr_assert_eq(to_verify("ca1/ca.crt", "ca1/server-localhost.pem", "ca1/server-localhost.pem",
			       cn, sizeof(cn)),
		     -EACCES);
}

Test(ossl, cn_buffer_too_small_refused)
{
	char cn[8];

	cr_assert_eq(to_verify("ca1/ca.crt", "ca1/client-mx1.example.org.pem",
			       "ca1/client-mx1.example.org.pem", cn, sizeof(cn)),
		     -EACCES);
}

Test(ossl, unparsable_input_is_einval)
{
	static const char junk[] = "-----BEGIN CERTIFICATE-----\nnot base64 at all\n"
				   "-----END CERTIFICATE-----\n";
	uint8_t nonce[32] = { 1 };
	char cn[256], *big;
	el_buf cert = to_cert("ca1/client-mx1.example.org.pem"), two;
	el_span sig = EL_SPAN_LIT("0123456789");

	cr_assert_eq(el_ossl_verify_peer(to_path("ca1/ca.crt"), EL_SPAN_LIT(junk), nonce, 32, sig,
					 cn, sizeof(cn)),
		     -EINVAL);
	cr_assert_eq(el_ossl_verify_peer(to_path("ca1/ca.crt"), el_span_make("", 0), nonce, 32, sig,
					 cn, sizeof(cn)),
		     -EINVAL);
	cr_assert_eq(el_ossl_verify_peer(to_path("ca1/ca.crt"), el_span_make(cert.p, cert.len),
					 nonce, 32, el_span_make("", 0), cn, sizeof(cn)),
		     -EINVAL);
	big = malloc(EL_OSSL_MAX_CERT + 1);
	memset(big, 'A', EL_OSSL_MAX_CERT + 1);
	cr_assert_eq(el_ossl_verify_peer(to_path("ca1/ca.crt"),
					 el_span_make(big, EL_OSSL_MAX_CERT + 1), nonce, 32, sig,
					 cn, sizeof(cn)),
		     -EINVAL);
	free(big);
	/* Two certificates (a chain) are not accepted. */
	el_buf_init(&two);
	el_buf_adds(&two, el_span_make(cert.p, cert.len));
	el_buf_adds(&two, el_span_make(cert.p, cert.len));
	cr_assert_eq(el_ossl_verify_peer(to_path("ca1/ca.crt"), el_span_make(two.p, two.len), nonce,
					 32, sig, cn, sizeof(cn)),
		     -EINVAL);
	/* A signature that is not DER: refused like any bad signature. */
	cr_assert_eq(el_ossl_verify_peer(to_path("ca1/ca.crt"), el_span_make(cert.p, cert.len),
					 nonce, 32, sig, cn, sizeof(cn)),
		     -EACCES);
	el_buf_fini(&two);
	el_buf_fini(&cert);
}

Test(ossl, missing_ca_file_is_enoent)
{
	char cn[256];

	cr_assert_eq(to_verify("nope/ca.crt", "ca1/client-mx1.example.org.pem",
			       "ca1/client-mx1.example.org.pem", cn, sizeof(cn)),
		     -ENOENT);
}

Test(ossl, cert_pem_never_carries_the_key)
{
	el_buf b = to_cert("ca1/client-mx1.example.org.pem");

	cr_assert(b.len > 100);
	cr_assert_null(memmem(b.p, b.len, "PRIVATE", 7));
	cr_assert_not_null(memmem(b.p, b.len, "BEGIN CERTIFICATE", 17));
	el_buf_fini(&b);
}

Test(ossl, sign_errors)
{
	el_buf sig;
	uint8_t nonce[32] = { 0 };

	el_buf_init(&sig);
	cr_assert_eq(el_ossl_sign_nonce(to_path("nope.pem"), nonce, 32, &sig), -ENOENT);
	/* A certificate alone has no key. */
	cr_assert_eq(el_ossl_sign_nonce(to_path("ca1/ca.crt"), nonce, 32, &sig), -EINVAL);
	cr_assert_eq(sig.len, 0);
	el_buf_fini(&sig);
}

Test(ossl, valid_cn_table)
{
	static const struct {
		const char *s;
		int ok;
	} t[] = {
		{ "mx1.example.org", 1 },
		{ "a", 1 },
		{ "host_1-b", 1 },
		{ "", 0 },
		{ ".lead", 0 },
		{ "-lead", 0 },
		{ "sp ace", 0 },
		{ "semi;colon", 0 },
		{ "é", 0 },
		{ "tab\t", 0 },
		{ "slash/", 0 },
	};
	char longname[300];
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		cr_assert_eq(el_ossl_valid_cn(t[i].s, strlen(t[i].s)), t[i].ok, "%s", t[i].s);
	}
	cr_assert_eq(el_ossl_valid_cn("nul\0x", 5), 0);
	memset(longname, 'a', sizeof(longname));
	cr_assert_eq(el_ossl_valid_cn(longname, EL_OSSL_MAX_CN), 1);
	cr_assert_eq(el_ossl_valid_cn(longname, EL_OSSL_MAX_CN + 1), 0);
}

Test(ossl, random_and_read_file)
{
	uint8_t a[32], b[32];
	char path[] = "/tmp/else-ossl-XXXXXX";
	el_buf buf;
	int fd;

	cr_assert_eq(el_ossl_random(a, sizeof(a)), 0);
	cr_assert_eq(el_ossl_random(b, sizeof(b)), 0);
	cr_assert(memcmp(a, b, sizeof(a)) != 0);
	fd = mkstemp(path);
	cr_assert(fd >= 0);
	cr_assert_eq(ftruncate(fd, EL_OSSL_MAX_FILE + 1), 0);
	close(fd);
	el_buf_init(&buf);
	cr_assert_eq(el_ossl_read_file(path, &buf), -EFBIG);
	cr_assert_eq(buf.len, 0);
	cr_assert_eq(truncate(path, 10), 0);
	cr_assert_eq(el_ossl_read_file(path, &buf), 0);
	cr_assert_eq(buf.len, 10);
	unlink(path);
	el_buf_fini(&buf);
}

Test(ossl, cached_ca_survives_an_unreachable_file)
{
	char dir[] = "/tmp/else-ossl-ca-XXXXXX", path[256], cmd[600], cn[256];

	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/ca.crt", dir);
	snprintf(cmd, sizeof(cmd), "cp %s %s", to_path("ca1/ca.crt"), path);
	cr_assert_eq(system(cmd), 0);
	cr_assert_eq(el_ossl_ca_load(path), 0);
	cr_assert_eq(unlink(path), 0); /* like a root-only file after a privilege drop */
	cr_assert_eq(to_verify_abs(path, cn, sizeof(cn)), 0);
	cr_assert_str_eq(cn, "mx1.example.org");
	cr_assert_eq(el_ossl_ca_load(to_path("nope/ca.crt")), -ENOENT);
	rmdir(dir);
}
