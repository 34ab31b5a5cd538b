"""TLS settings: Perfect's ``TLSConfiguration`` and ``HTTPServer.ssl``, as an ``ssl.SSLContext``.

Swift: ``struct TLSConfiguration`` (PerfectlySoft/Perfect-HTTPServer
``Sources/PerfectHTTPServer/HTTPServerEx.swift``), ``HTTPServer.bind()``
(``HTTPServer.swift``) and ``OpenSSLVerifyMode`` (Perfect-Net), whose
configuration strings ``HTTPServerExConfig.swift`` parses.

Perfect hands these settings to OpenSSL on its listening socket; perfectws
builds the same ``ssl.SSLContext`` and gives it to Tornado's HTTP server
(``ssl_options``), so https is served on the server's own port.
"""

from __future__ import annotations

import enum
import os
import ssl
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field

from .exceptions import ConfigurationError

__all__ = ["OpenSSLVerifyMode", "TLSConfiguration"]

#: Swift: ``TLSConfiguration.defaultCipherList`` (and ``HTTPServer.cipherList``).
DEFAULT_CIPHER_LIST: tuple[str, ...] = (
    "ECDHE-ECDSA-AES256-GCM-SHA384",
    "ECDHE-ECDSA-AES128-GCM-SHA256",
    "ECDHE-ECDSA-AES256-CBC-SHA384",
    "ECDHE-ECDSA-AES256-CBC-SHA",
    "ECDHE-ECDSA-AES128-CBC-SHA256",
    "ECDHE-ECDSA-AES128-CBC-SHA",
    "ECDHE-RSA-AES256-GCM-SHA384",
    "ECDHE-RSA-AES128-GCM-SHA256",
    "ECDHE-RSA-AES256-CBC-SHA384",
    "ECDHE-RSA-AES128-CBC-SHA256",
    "ECDHE-RSA-AES128-CBC-SHA",
    "ECDHE-RSA-AES256-SHA384",
    "ECDHE-ECDSA-AES256-SHA384",
    "ECDHE-RSA-AES256-SHA",
    "ECDHE-ECDSA-AES256-SHA",
)

# Perfect tells a PEM text from a file path by this prefix (HTTPServer.bind()).
_PEM_PREFIX = "-----BEGIN"


class OpenSSLVerifyMode(enum.Enum):
    """Whether, and how, clients must present a certificate.

    Swift: ``enum OpenSSLVerifyMode`` (Perfect-Net); the values are the
    strings ``tlsConfig.verifyMode`` takes in configuration data.

    Differs from Perfect: Python's ``ssl`` has no "client once" (the
    certificate is asked for on every handshake either way), so the
    ``*_CLIENT_ONCE`` modes behave like their counterparts without it.
    """

    SSL_VERIFY_NONE = "none"
    SSL_VERIFY_PEER = "peer"
    SSL_VERIFY_FAIL_IF_NO_PEER_CERT = "failIfNoPeerCert"
    SSL_VERIFY_CLIENT_ONCE = "clientOnce"
    SSL_VERIFY_PEER_WITH_FAIL_IF_NO_PEER_CERT = "peerWithFailIfNoPeerCert"
    SSL_VERIFY_PEER_CLIENT_ONCE = "peerClientOnce"
    SSL_VERIFY_PEER_WITH_FAIL_IF_NO_PEER_CERT_CLIENT_ONCE = (
        "peerWithFailIfNoPeerCertClientOnce"
    )

    @property
    def _cert_reqs(self) -> ssl.VerifyMode:
        if self is OpenSSLVerifyMode.SSL_VERIFY_NONE:
            return ssl.CERT_NONE
        if "FAIL_IF_NO_PEER_CERT" in self.name:
            return ssl.CERT_REQUIRED
        return ssl.CERT_OPTIONAL


@dataclass(frozen=True)
class TLSConfiguration:
    """A server's certificate, key and client-verification settings.

    Swift: ``TLSConfiguration(certPath:keyPath:caCertPath:certVerifyMode:
    cipherList:alpnSupport:)`` and ``TLSConfiguration(cert:key:...)``.

    ``cert_path`` and ``key_path`` are file paths or the PEM text itself
    (Perfect checks for ``-----BEGIN``). Without ``key_path`` the key is
    read from the certificate file, as in Perfect.
    """

    cert_path: str
    key_path: str | None = None
    ca_cert_path: str | None = None
    cert_verify_mode: OpenSSLVerifyMode | None = None
    cipher_list: Sequence[str] = field(default=DEFAULT_CIPHER_LIST)

    #: Swift: ``static var defaultCipherList``
    default_cipher_list = DEFAULT_CIPHER_LIST

    def ssl_context(self) -> ssl.SSLContext:
        """The ``ssl.SSLContext`` Tornado serves with (Swift: none; Perfect configures OpenSSL)."""
        return make_ssl_context(
            self.cert_path,
            self.key_path or self.cert_path,
            self.ca_cert_path,
            self.cert_verify_mode,
            self.cipher_list,
        )


def make_ssl_context(
    cert: str,
    key: str,
    ca_cert: str | None = None,
    verify_mode: OpenSSLVerifyMode | None = None,
    cipher_list: Sequence[str] = DEFAULT_CIPHER_LIST,
) -> ssl.SSLContext:
    """Build the server context from Perfect's settings, or raise ConfigurationError.

    Mirrors ``HTTPServer.bind()``: the cipher list, then the client CA when a
    verify mode other than none is set, then the certificate chain and the
    private key (each a path or PEM text), then the key check; ALPN offers
    ``http/1.1``.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.set_ciphers(":".join(cipher_list))
    except ssl.SSLError as error:
        raise ConfigurationError(
            f"cipherList: no usable cipher in {list(cipher_list)!r} ({error})"
        ) from None
    if verify_mode is not None and verify_mode is not OpenSSLVerifyMode.SSL_VERIFY_NONE:
        if ca_cert is None:
            raise ConfigurationError(
                f"certVerifyMode {verify_mode.value!r} needs caCert "
                "(caCertPath): the CA that signs client certificates"
            )
        try:
            if ca_cert.startswith(_PEM_PREFIX):
                context.load_verify_locations(cadata=ca_cert)
            else:
                context.load_verify_locations(cafile=ca_cert)
        except (OSError, ssl.SSLError) as error:
            raise ConfigurationError(
                f"caCert {_shown(ca_cert)}: could not be loaded ({error})"
            ) from None
        context.verify_mode = verify_mode._cert_reqs
    try:
        with _as_file(cert) as cert_file, _as_file(key) as key_file:
            context.load_cert_chain(cert_file, key_file)
    except FileNotFoundError as error:
        raise ConfigurationError(
            f"sslCert/sslKey: no such file {error.filename!r}"
        ) from None
    except (OSError, ssl.SSLError) as error:
        # load_cert_chain also checks that the key matches the certificate,
        # Perfect's checkPrivateKey().
        raise ConfigurationError(
            f"sslCert {_shown(cert)} / sslKey {_shown(key)}: "
            f"could not be loaded ({error})"
        ) from None
    context.set_alpn_protocols(["http/1.1"])
    return context


def _shown(value: str) -> str:
    return "(PEM text)" if value.startswith(_PEM_PREFIX) else repr(value)


class _as_file:
    """A path as is, or PEM text in a private temporary file (ssl reads files only)."""

    def __init__(self, value: str) -> None:
        self._value = value
        self._path: str | None = None

    def __enter__(self) -> str:
        if not self._value.startswith(_PEM_PREFIX):
            return self._value
        fd, self._path = tempfile.mkstemp(suffix=".pem")
        with os.fdopen(fd, "w") as file:
            file.write(self._value)
        return self._path

    def __exit__(self, *exc: object) -> None:
        if self._path is not None:
            os.unlink(self._path)
