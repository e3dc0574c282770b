"""TLS contexts for FIX connections, from the standard library's :mod:`ssl`.

The settings use QuickFIX's names: ``ServerCertificateFile``/``ServerCertificateKeyFile`` (the
acceptor's certificate), ``ClientCertificateFile``/``ClientCertificateKeyFile`` (an initiator's
optional client certificate), ``CertificateAuthoritiesFile`` (the CAs to trust; the system's
when unset) and ``CertificateVerifyLevel``: 0 checks nothing, 1 checks the server certificate
and host name on the initiator (and a client certificate on the acceptor if one is offered),
2 also makes the acceptor require a client certificate.
"""

from __future__ import annotations

import ssl

from fixg.errors import ConfigError
from fixg.fix.settings import SessionSettings

__all__ = ["server_context", "client_context"]


def server_context(settings: SessionSettings) -> ssl.SSLContext:
    """The acceptor side's context."""
    if not settings.server_certificate_file:
        raise ConfigError("a TLS acceptor needs a certificate", key="ServerCertificateFile")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(
            settings.server_certificate_file, settings.server_certificate_key_file or None
        )
        level = settings.certificate_verify_level
        if level == 0:
            context.verify_mode = ssl.CERT_NONE
        else:
            if settings.certificate_authorities_file:
                context.load_verify_locations(cafile=settings.certificate_authorities_file)
            else:
                context.load_default_certs(ssl.Purpose.CLIENT_AUTH)
            context.verify_mode = ssl.CERT_REQUIRED if level == 2 else ssl.CERT_OPTIONAL
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"cannot load TLS material: {exc}", key="ServerCertificateFile") from exc
    return context


def client_context(settings: SessionSettings) -> ssl.SSLContext:
    """The initiator side's context: the server certificate is checked unless
    CertificateVerifyLevel is 0."""
    try:
        context = ssl.create_default_context(
            ssl.Purpose.SERVER_AUTH, cafile=settings.certificate_authorities_file or None
        )
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        if settings.certificate_verify_level == 0:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        if settings.client_certificate_file:
            context.load_cert_chain(
                settings.client_certificate_file, settings.client_certificate_key_file or None
            )
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(
            f"cannot load TLS material: {exc}", key="CertificateAuthoritiesFile"
        ) from exc
    return context
