#!/bin/bash
# else-ca.sh - the ELSE certificate authority: one CA, server certificates for
# the backend (and later the frontend), client certificates for collectors.
#
#   else-ca.sh init   DIR                 CA key and certificate
#   else-ca.sh server DIR NAME [SAN...]   server certificate (backend, frontend)
#   else-ca.sh client DIR HOSTNAME        collector certificate, CN=HOSTNAME
#   else-ca.sh revoke DIR NAME            revoke client-NAME (or server-NAME)
#   else-ca.sh crl    DIR                 renew the revocation list in ca.crt
#
# Keys are EC P-256.  In DIR:
#   ca.key ca.crt               the CA (keep ca.key offline once hosts are issued)
#   server-NAME.{key,crt,pem}   a server's key, certificate, and both in one
#   client-HOSTNAME.{key,crt,pem}  file (.pem: what NNG's
#                               nng_tls_config_cert_key_file and else-send --cert want)
# Keys and .pem files are mode 0600, certificates 0644.
#
# Revocation: `revoke` records the certificate in DIR/index.txt, moves its
# files to DIR/revoked/ (so the name can be issued again) and writes the
# certificate revocation list, signed by the CA, after the CA certificate in
# ca.crt.  Every ELSE program reads a CRL in its ca_file: copy the new ca.crt
# where ca_file points and restart the backend (its TLS listeners load it at
# start; the query service's own check of a frontend reads it again when the
# file changes).  A CRL has an end date (ELSE_CRL_DAYS, default 3650) after
# which TLS refuses every peer: `crl` renews it.
#
# The CN of a client certificate is the host identity ELSE records for every
# line that collector ships, so HOSTNAME is restricted to hostname characters
# [A-Za-z0-9._-] (the backend refuses anything else).  A server certificate
# always carries DNS:NAME, DNS:localhost and IP:127.0.0.1 plus the SANs given
# (an IPv4/IPv6 address becomes IP:, anything else DNS:).
#
# Idempotent: an existing CA is never replaced, and an existing host
# certificate that still verifies against the CA is kept.  Remove the files
# to reissue.  ELSE_CA_DAYS (CA, default 3650) and ELSE_CERT_DAYS (hosts,
# default 825) set the validity.  See docs/certificates.md.
set -euo pipefail

prog=else-ca.sh
die() {
	echo "$prog: $*" >&2
	exit 1
}
usage() {
	sed -n '4,8p' "$0" | sed 's/^# *//' >&2
	exit 2
}

command -v openssl >/dev/null || die "openssl not found (apt-get install openssl)"
[ $# -ge 2 ] || usage
cmd=$1
dir=$2
shift 2

ca_days=${ELSE_CA_DAYS:-3650}
cert_days=${ELSE_CERT_DAYS:-825}
[[ $ca_days =~ ^[0-9]+$ && $ca_days -ge 1 ]] || die "ELSE_CA_DAYS must be a positive number"
[[ $cert_days =~ ^[0-9]+$ && $cert_days -ge 1 ]] || die "ELSE_CERT_DAYS must be a positive number"
crl_days=${ELSE_CRL_DAYS:-3650}
[[ $crl_days =~ ^[0-9]+$ && $crl_days -ge 1 ]] || die "ELSE_CRL_DAYS must be a positive number"

# valid_name NAME - hostname characters only, 1..253 bytes, no leading dot/dash
valid_name() {
	[[ ${#1} -ge 1 && ${#1} -le 253 && $1 =~ ^[A-Za-z0-9_][A-Za-z0-9._-]*$ ]]
}

# new_key FILE - an EC P-256 private key, created 0600 from the start
new_key() {
	(umask 077 && openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
		-out "$1" 2>/dev/null) || die "cannot create key $1"
}

# need_ca - the CA must exist for server/client
need_ca() {
	[ -f "$dir/ca.key" ] && [ -f "$dir/ca.crt" ] || die "no CA in $dir: run '$prog init $dir' first"
}

# cert_ok BASE - does BASE.crt exist, match BASE.key and verify against the CA
cert_ok() {
	local n=$1 crl=()
	[ -f "$dir/$n.key" ] && [ -f "$dir/$n.crt" ] && [ -f "$dir/$n.pem" ] || return 1
	# ca.crt carries a CRL once a certificate was revoked: check it too.
	grep -q -- "-----BEGIN X509 CRL-----" "$dir/ca.crt" && crl=(-crl_check)
	openssl verify -CAfile "$dir/ca.crt" "${crl[@]}" "$dir/$n.crt" >/dev/null 2>&1 || return 1
	[ "$(openssl pkey -in "$dir/$n.key" -pubout 2>/dev/null)" = \
		"$(openssl x509 -in "$dir/$n.crt" -noout -pubkey 2>/dev/null)" ]
}

# ca_run WHAT ARGS... - `openssl ca ARGS` on the revocation database
# (DIR/index.txt, DIR/crlnumber), signing with the CA; dies with its message
# unless it is only "already revoked".
ca_run() {
	local what=$1 conf
	shift
	conf=$(mktemp "$dir/.ca.XXXXXX")
	cat >"$conf" <<-EOF
		[ca]
		default_ca = else
		[else]
		database = $dir/index.txt
		crlnumber = $dir/crlnumber
		certificate = $dir/.ca-cert.pem
		private_key = $dir/ca.key
		default_md = sha256
		default_crl_days = $crl_days
	EOF
	[ -f "$dir/index.txt" ] || : >"$dir/index.txt"
	[ -f "$dir/crlnumber" ] || echo 1000 >"$dir/crlnumber"
	openssl x509 -in "$dir/ca.crt" -out "$dir/.ca-cert.pem" 2>/dev/null || die "cannot read $dir/ca.crt"
	if ! openssl ca -config "$conf" "$@" 2>"$dir/.ca.log" && ! grep -q "already revoked" "$dir/.ca.log"; then
		die "cannot $what: $(tail -2 "$dir/.ca.log")"
	fi
	rm -f "$conf" "$dir/.ca-cert.pem" "$dir/.ca.log"
}

# write_crl - sign a CRL of DIR/index.txt and put it after the CA certificate in ca.crt
write_crl() {
	ca_run "sign the CRL" -gencrl -out "$dir/crl.pem"
	{ openssl x509 -in "$dir/ca.crt" && cat "$dir/crl.pem"; } >"$dir/ca.crt.tmp" ||
		die "cannot write $dir/ca.crt"
	chmod 0644 "$dir/ca.crt.tmp" "$dir/crl.pem"
	mv -f "$dir/ca.crt.tmp" "$dir/ca.crt"
}

# issue BASE CN EXTFILE - sign a certificate for BASE.key with the CA
issue() {
	local n=$1 cn=$2 ext=$3 csr
	csr=$(mktemp "$dir/.csr.XXXXXX")
	openssl req -new -key "$dir/$n.key" -subj "/O=ELSE/CN=$cn" -out "$csr" 2>/dev/null ||
		die "cannot create a request for $n"
	openssl x509 -req -in "$csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" \
		-CAserial "$dir/ca.srl" -CAcreateserial -days "$cert_days" -sha256 \
		-extfile "$ext" -out "$dir/$n.crt" 2>/dev/null || die "cannot sign $n"
	rm -f "$csr"
	chmod 0644 "$dir/$n.crt"
	(umask 077 && cat "$dir/$n.key" "$dir/$n.crt" >"$dir/$n.pem.tmp")
	mv -f "$dir/$n.pem.tmp" "$dir/$n.pem"
}

# host_prepare BASE NAME - a key for BASE unless a matching key+cert verifies
host_prepare() {
	local n=$1
	valid_name "$2" || die "bad name '$2': use hostname characters [A-Za-z0-9._-], at most 253"
	need_ca
	if cert_ok "$n"; then
		echo "$prog: $dir/$n.pem exists and verifies; kept"
		return 1
	fi
	rm -f "$dir/$n.crt" "$dir/$n.pem"
	[ -f "$dir/$n.key" ] || new_key "$dir/$n.key"
	return 0
}

case $cmd in
init)
	[ $# -eq 0 ] || usage
	mkdir -p "$dir"
	chmod 0700 "$dir"
	if [ -f "$dir/ca.key" ] && [ -f "$dir/ca.crt" ]; then
		echo "$prog: CA exists in $dir; kept"
		exit 0
	fi
	[ -f "$dir/ca.key" ] || new_key "$dir/ca.key"
	ext=$(mktemp "$dir/.ext.XXXXXX")
	cat >"$ext" <<-EOF
		[req]
		distinguished_name = dn
		[dn]
		[v3_ca]
		basicConstraints = critical, CA:TRUE, pathlen:0
		keyUsage = critical, keyCertSign, cRLSign
		subjectKeyIdentifier = hash
	EOF
	openssl req -x509 -new -key "$dir/ca.key" -subj "/O=ELSE/CN=ELSE CA" \
		-days "$ca_days" -sha256 -config "$ext" -extensions v3_ca \
		-out "$dir/ca.crt" 2>/dev/null || die "cannot create the CA certificate"
	rm -f "$ext"
	chmod 0644 "$dir/ca.crt"
	echo "$prog: CA created in $dir (ca.key, ca.crt)"
	;;
server)
	[ $# -ge 1 ] || usage
	name=$1
	shift
	host_prepare "server-$name" "$name" || exit 0
	sans="DNS:$name,DNS:localhost,IP:127.0.0.1"
	for s in "$@"; do
		if [[ $s =~ ^[0-9.]+$ || $s =~ ^[0-9A-Fa-f:]+$ && $s == *:* ]]; then
			sans+=",IP:$s"
		elif valid_name "$s"; then
			sans+=",DNS:$s"
		else
			die "bad SAN '$s'"
		fi
	done
	ext=$(mktemp "$dir/.ext.XXXXXX")
	cat >"$ext" <<-EOF
		basicConstraints = critical, CA:FALSE
		keyUsage = critical, digitalSignature
		extendedKeyUsage = serverAuth
		subjectAltName = $sans
		subjectKeyIdentifier = hash
		authorityKeyIdentifier = keyid
	EOF
	issue "server-$name" "$name" "$ext"
	rm -f "$ext"
	echo "$prog: server certificate $dir/server-$name.pem ($sans)"
	;;
client)
	[ $# -eq 1 ] || usage
	name=$1
	host_prepare "client-$name" "$name" || exit 0
	ext=$(mktemp "$dir/.ext.XXXXXX")
	cat >"$ext" <<-EOF
		basicConstraints = critical, CA:FALSE
		keyUsage = critical, digitalSignature
		extendedKeyUsage = clientAuth
		subjectKeyIdentifier = hash
		authorityKeyIdentifier = keyid
	EOF
	issue "client-$name" "$name" "$ext"
	rm -f "$ext"
	echo "$prog: client certificate $dir/client-$name.pem (CN=$name)"
	;;
revoke)
	[ $# -eq 1 ] || usage
	name=$1
	valid_name "$name" || die "bad name '$name'"
	need_ca
	n=
	for b in "client-$name" "server-$name"; do
		[ -f "$dir/$b.crt" ] && n=$b && break
	done
	[ -n "$n" ] || die "no certificate client-$name.crt or server-$name.crt in $dir"
	serial=$(openssl x509 -in "$dir/$n.crt" -noout -serial | sed 's/^serial=//')
	ca_run "revoke $n" -revoke "$dir/$n.crt"
	write_crl
	mkdir -p "$dir/revoked"
	chmod 0700 "$dir/revoked"
	for ext in crt key pem; do
		[ -f "$dir/$n.$ext" ] && mv -f "$dir/$n.$ext" "$dir/revoked/$n.$serial.$ext"
	done
	echo "$prog: $n (serial $serial) revoked; install $dir/ca.crt as every ca_file and restart the backend"
	;;
crl)
	[ $# -eq 0 ] || usage
	need_ca
	write_crl
	echo "$prog: CRL renewed in $dir/ca.crt ($crl_days days)"
	;;
*)
	usage
	;;
esac
