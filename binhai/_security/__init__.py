"""Deployment security: the CA, device and bridge identities, the generated broker
configuration. Files live under ``<data-dir>/security`` (see :class:`Layout`), all private
(0600 files, 0700 directories); the core's bearer tokens are :mod:`cloud_core`'s (``tokens.json``
in the same directory).
"""

from binhai._security._broker_conf import (
    DEFAULT_HOSTS,
    BrokerFiles,
    BrokerOptions,
    regenerate,
    render_acl,
    render_security,
    write_broker_config,
)
from binhai._security._ca import CertAuthority, IssuedCert
from binhai._security._errors import NotInitialised, SecurityError, UnknownIdentity
from binhai._security._files import default_data_dir, write_private
from binhai._security._identities import Identity, IdentityStore, device_username
from binhai._security._layout import Layout
from binhai._security._passwd import hash_password, new_password, verify_password

__all__ = [
    "DEFAULT_HOSTS",
    "BrokerFiles",
    "BrokerOptions",
    "CertAuthority",
    "Identity",
    "IdentityStore",
    "IssuedCert",
    "Layout",
    "NotInitialised",
    "SecurityError",
    "UnknownIdentity",
    "default_data_dir",
    "device_username",
    "hash_password",
    "new_password",
    "regenerate",
    "render_acl",
    "render_security",
    "verify_password",
    "write_broker_config",
    "write_private",
]
