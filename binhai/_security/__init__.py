"""Deployment security: the CA, device and bridge identities, the generated broker
configuration and the core's bearer tokens (:class:`TokenStore`; roles from :mod:`cloud_core`).
Files live under ``<data-dir>/security`` (see :class:`Layout`), all private (0600 files, 0700
directories).
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
from binhai._security._tokens import TokenRecord, TokenStore

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
    "TokenRecord",
    "TokenStore",
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
