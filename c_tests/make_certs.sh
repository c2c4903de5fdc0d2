#!/bin/sh
# Makes every certificate and key the C suite uses, with the openssl CLI,
# into the directory given. Run at configure time; nothing is fetched.
set -eu
out=$1
mkdir -p "$out"
cd "$out"
days=30

# A CA, and a second CA nobody trusts.
for ca in ca other_ca; do
    openssl req -x509 -newkey rsa:2048 -nodes -keyout $ca.key -out $ca.pem -days $days \
        -subj "/CN=sack_tcp test $ca" -addext basicConstraints=critical,CA:TRUE \
        -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
done

# leaf NAME SAN [ISSUER] [extra x509 args]: a key and a certificate signed by ISSUER.
leaf() {
    name=$1 san=$2 issuer=${3:-ca}
    shift 3 || shift $#
    openssl req -newkey rsa:2048 -nodes -keyout $name.key -out $name.csr -subj "/CN=$name" 2>/dev/null
    printf 'subjectAltName=%s\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth,clientAuth\n' "$san" > $name.ext
    openssl x509 -req -in $name.csr -CA $issuer.pem -CAkey $issuer.key -CAcreateserial \
        -out $name.pem -days $days -extfile $name.ext "$@" 2>/dev/null
    rm -f $name.csr $name.ext
}

leaf localhost "DNS:localhost,IP:127.0.0.1,IP:::1" ca
leaf a.example.com "DNS:a.example.com" ca
leaf b.example.com "DNS:b.example.com" ca
leaf wild "DNS:*.wild.example.com" ca
leaf default.example.com "DNS:default.example.com" ca
leaf added.example.com "DNS:added.example.com" ca
leaf client "DNS:client.example.com" ca
leaf untrusted "DNS:localhost,IP:127.0.0.1" other_ca

# Expired: OpenSSL 3.0's x509 has no -not_after, so -days -1 gives a
# certificate whose validity ended a day before it was made.
openssl req -newkey rsa:2048 -nodes -keyout expired.key -out expired.csr -subj "/CN=localhost" 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' > expired.ext
openssl x509 -req -in expired.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out expired.pem \
    -extfile expired.ext -days -1 2>/dev/null
rm -f expired.csr expired.ext

# Self-signed, for localhost.
openssl req -x509 -newkey rsa:2048 -nodes -keyout selfsigned.key -out selfsigned.pem -days $days \
    -subj "/CN=localhost" -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" 2>/dev/null

# Encrypted copies of localhost.key: PKCS#8 (PBES2) and legacy OpenSSL PEM.
openssl pkcs8 -topk8 -v2 aes-256-cbc -in localhost.key -out localhost.p8enc.key -passout pass:s3cret
openssl rsa -in localhost.key -aes256 -traditional -out localhost.legacy.key -passout pass:s3cret 2>/dev/null
grep -q "ENCRYPTED PRIVATE KEY" localhost.p8enc.key
grep -q "Proc-Type: 4,ENCRYPTED" localhost.legacy.key
echo "certificates in $out"
