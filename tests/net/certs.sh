#!/bin/bash
# certs.sh DIR - the certificates the network tests use, made with
# deploy/else-ca.sh (the tool under test) plus openssl for the bad ones
# else-ca.sh refuses to make:
#   DIR/ca1/    the ELSE CA: server-localhost, client-mx1.example.org,
#               client-mx2.example.org, client-frontend1 (query service);
#               its ca.crt carries a CRL revoking bad/revoked.pem
#   DIR/ca2/    another CA: client-mx1.example.org (same name, wrong CA)
#   DIR/bad/    certificates of ca1 that must be refused: expired.pem,
#               badcn.pem (CN with a space and '!'), twocn.pem (two CNs),
#               noclient.pem (serverAuth only), revoked.pem (CN
#               mx9.example.org, revoked by else-ca.sh)
set -euo pipefail
d=$1
here=$(cd "$(dirname "$0")" && pwd)
ca=$here/../../deploy/else-ca.sh
mkdir -p "$d/bad"
bash "$ca" init "$d/ca1" >/dev/null
bash "$ca" server "$d/ca1" localhost >/dev/null
bash "$ca" client "$d/ca1" mx1.example.org >/dev/null
bash "$ca" client "$d/ca1" mx2.example.org >/dev/null
bash "$ca" client "$d/ca1" frontend1 >/dev/null
# A collector retired: its certificate revoked, so ca1/ca.crt carries a CRL
# that every test using ca1 goes through.
bash "$ca" client "$d/ca1" mx9.example.org >/dev/null
cp "$d/ca1/client-mx9.example.org.pem" "$d/bad/revoked.pem"
bash "$ca" revoke "$d/ca1" mx9.example.org >/dev/null
bash "$ca" init "$d/ca2" >/dev/null
bash "$ca" client "$d/ca2" mx1.example.org >/dev/null

b=$d/bad
cat >"$b/ext.cnf" <<EXT
[client]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
[server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
[ca]
default_ca = ca_sect
[ca_sect]
database = $b/index.txt
new_certs_dir = $b
serial = $b/serial
default_md = sha256
policy = pol
[pol]
commonName = supplied
organizationName = optional
EXT
: >"$b/index.txt"
echo 1000 >"$b/serial"

# mk NAME SUBJ SECTION - key + cert of ca1 with an arbitrary subject
mk() {
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$b/$1.key" 2>/dev/null
	openssl req -new -key "$b/$1.key" -subj "$2" -multivalue-rdn -out "$b/$1.csr" 2>/dev/null
	openssl x509 -req -in "$b/$1.csr" -CA "$d/ca1/ca.crt" -CAkey "$d/ca1/ca.key" \
		-CAserial "$b/ca.srl" -CAcreateserial -days 30 -extfile "$b/ext.cnf" \
		-extensions "$3" -out "$b/$1.crt" 2>/dev/null
	cat "$b/$1.key" "$b/$1.crt" >"$b/$1.pem"
}
mk badcn "/CN=bad name!" client
mk twocn "/CN=mx1.example.org/CN=mx2.example.org" client
mk noclient "/CN=mx3.example.org" server

# An expired certificate: openssl ca can backdate, x509 -days cannot.
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$b/expired.key" 2>/dev/null
openssl req -new -key "$b/expired.key" -subj "/CN=old.example.org" -out "$b/expired.csr" 2>/dev/null
openssl ca -batch -config "$b/ext.cnf" -cert "$d/ca1/ca.crt" -keyfile "$d/ca1/ca.key" \
	-startdate 20200101000000Z -enddate 20200201000000Z -extensions client -notext \
	-in "$b/expired.csr" -out "$b/expired.crt" 2>/dev/null
cat "$b/expired.key" "$b/expired.crt" >"$b/expired.pem"
