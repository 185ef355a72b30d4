"""Interop with Tencent's official UserSig library (PyPI `tls-sig-api-v2`).

  usersig.py gen SDKAPPID KEY IDENTIFIER EXPIRE [USERBUF]  -> prints a sig made by the official library
  usersig.py check SDKAPPID KEY SIG                        -> decodes SIG with the official helpers and
                                                              recomputes TLS.sig with the official HMAC;
                                                              prints "ok" or exits 1
"""
import json
import sys
import zlib

import TLSSigAPIv2


def main(argv):
    cmd, sdkappid, key = argv[1], int(argv[2]), argv[3]
    api = TLSSigAPIv2.TLSSigAPIv2(sdkappid, key)
    if cmd == "gen":
        identifier, expire = argv[4], int(argv[5])
        if len(argv) > 6:
            print(api.gen_sig_with_userbuf(identifier, expire, argv[6].encode()))
        else:
            print(api.gen_sig(identifier, expire))
        return 0
    if cmd == "check":
        doc = json.loads(zlib.decompress(TLSSigAPIv2.base64_decode_url(argv[4].encode())))
        expected = api._TLSSigAPIv2__hmacsha256(
            doc["TLS.identifier"], doc["TLS.time"], doc["TLS.expire"], doc.get("TLS.userbuf")
        ).decode()
        if doc["TLS.sig"] != expected or doc["TLS.sdkappid"] != sdkappid or doc["TLS.ver"] != "2.0":
            print(f"mismatch: {doc} expected sig {expected}", file=sys.stderr)
            return 1
        print("ok")
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
