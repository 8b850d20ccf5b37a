#!/usr/bin/env python3
"""JOSE interoperability between the gateway and two independent Python libraries, joserfc and PyJWT.

Run by Tests/AggregationKitTests/JOSEInteropTests.swift (CI installs both: `pip install joserfc pyjwt`).

  jose_interop.py mint     Generates a key per algorithm and mints a JWT with each library that is
                           installed. Prints {"libraries": [...], "tokens": [{"library", "alg", "jwk",
                           "token", "claims"}]}: the JWK is public (oct for HMAC); the gateway must verify
                           every token and read the same claims.
  jose_interop.py verify   Reads {"tokens": [{"alg", "jwk", "token", "claims"}]} on stdin (tokens the
                           gateway signed, with their public JWKs) and verifies each with every installed
                           library. Prints {"libraries": [...], "results": [{"library", "alg", "ok",
                           "error"}]}; exits 1 when any check failed.

Exits 3 when joserfc is not installed (PyJWT is optional here; CI installs it).
"""
import json
import sys
import warnings

# joserfc warns that RFC 9864 deprecates the polymorphic "EdDSA" name; it is still what RFC 8037 and
# the issue specify.
warnings.simplefilter("ignore")

try:
    import joserfc  # noqa: F401
    from joserfc import jwt as jose_jwt
    from joserfc.jwk import ECKey, OctKey, OKPKey, RSAKey, import_key
except ImportError:
    print("joserfc is not installed (pip install joserfc pyjwt)", file=sys.stderr)
    sys.exit(3)

try:
    import jwt as pyjwt
    from jwt import PyJWK
    HAVE_PYJWT = True
except ImportError:
    HAVE_PYJWT = False

CLAIMS = {
    "iss": "https://issuer.example",
    "sub": "interop-user",
    "aud": "bff-gateway",
    "iat": 1767225600,
    "exp": 4102444800,
    "scope": "read write",
}

MINT_ALGORITHMS = ["HS256", "RS256", "PS256", "ES256", "ES384", "EdDSA"]


def libraries():
    return ["joserfc"] + (["pyjwt"] if HAVE_PYJWT else [])


def joserfc_key(alg):
    if alg.startswith("HS"):
        return OctKey.generate_key(256 if alg == "HS256" else 512)
    if alg[:2] in ("RS", "PS"):
        return RSAKey.generate_key(2048)
    if alg == "ES256":
        return ECKey.generate_key("P-256")
    if alg == "ES384":
        return ECKey.generate_key("P-384")
    if alg == "ES512":
        return ECKey.generate_key("P-521")
    return OKPKey.generate_key("Ed25519")


def mint():
    tokens = []
    for alg in MINT_ALGORITHMS:
        key = joserfc_key(alg)
        token = jose_jwt.encode({"alg": alg, "kid": "joserfc-" + alg}, CLAIMS, key, algorithms=[alg])
        jwk = key.as_dict(private=alg.startswith("HS"))
        tokens.append({"library": "joserfc", "alg": alg, "jwk": jwk, "token": token, "claims": CLAIMS})
    if HAVE_PYJWT:
        for alg in MINT_ALGORITHMS:
            # PyJWT signs with `cryptography` keys; reuse joserfc's generation and hand PyJWT the
            # private key material through a JWK, so each library's signing code is what is tested.
            private = PyJWK(joserfc_key(alg).as_dict(private=True), algorithm=alg)
            token = pyjwt.encode(CLAIMS, private.key, algorithm=alg, headers={"kid": "pyjwt-" + alg})
            if alg.startswith("HS"):
                jwk = {"kty": "oct", "k": pyjwt.utils.base64url_encode(private.key).decode()}
            else:
                jwk = json.loads(private.Algorithm.to_jwk(private.key.public_key()))
            tokens.append({"library": "pyjwt", "alg": alg, "jwk": jwk, "token": token, "claims": CLAIMS})
    json.dump({"libraries": libraries(), "tokens": tokens}, sys.stdout)


def verify():
    request = json.load(sys.stdin)
    results = []
    for entry in request["tokens"]:
        alg, jwk, token, claims = entry["alg"], entry["jwk"], entry["token"], entry["claims"]
        try:
            got = jose_jwt.decode(token, import_key(jwk), algorithms=[alg])
            if got.header.get("alg") != alg:
                raise ValueError("header alg %r" % got.header.get("alg"))
            if got.claims != claims:
                raise ValueError("claims differ: %r" % got.claims)
            results.append({"library": "joserfc", "alg": alg, "ok": True})
        except Exception as error:  # noqa: BLE001 - every failure is reported, not raised
            results.append({"library": "joserfc", "alg": alg, "ok": False, "error": repr(error)})
        if HAVE_PYJWT:
            try:
                key = PyJWK(jwk, algorithm=alg).key
                got = pyjwt.decode(token, key, algorithms=[alg], audience=claims.get("aud"),
                                   issuer=claims.get("iss"))
                if got != claims:
                    raise ValueError("claims differ: %r" % got)
                results.append({"library": "pyjwt", "alg": alg, "ok": True})
            except Exception as error:  # noqa: BLE001
                results.append({"library": "pyjwt", "alg": alg, "ok": False, "error": repr(error)})
    json.dump({"libraries": libraries(), "results": results}, sys.stdout)
    sys.exit(0 if all(r["ok"] for r in results) else 1)


if __name__ == "__main__":
    mode = sys.argv[1] if len(sys.argv) > 1 else ""
    if mode == "mint":
        mint()
    elif mode == "verify":
        verify()
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
