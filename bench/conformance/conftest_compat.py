"""pytest plugin (loaded with -p) that lets securesystemslib 1.4 run on
Debian 12's cryptography 38, which predates the PrivateKeyTypes and
PublicKeyTypes aliases (cryptography 40). It must load before
securesystemslib is imported, which -p guarantees (plugins load before any
conftest.py)."""

from cryptography.hazmat.primitives.asymmetric import types as _types

if not hasattr(_types, "PrivateKeyTypes"):
    _types.PrivateKeyTypes = _types.PRIVATE_KEY_TYPES
if not hasattr(_types, "PublicKeyTypes"):
    _types.PublicKeyTypes = _types.PUBLIC_KEY_TYPES
