"""pyHanko's signing API, imported without cryptography 51's DSA warning (AGB 4.3.2 signing).

cryptography 51 deprecates DSA (pyca/cryptography#15597) and warns whenever a module reads a
name of its ``dsa`` module. pyHanko (0.38.0, the newest release) imports ``DSAPrivateKey`` at
import time in ``pyhanko.sign.signers.pdf_cms``, only to recognise DSA keys, so every process
that signs an invoice would print the warning although the platform signs with RSA or ECDSA
certificates. Exactly that warning from exactly that module is ignored, before the import, for
the CLI, the server and every library caller; pyproject.toml carries the same filter for the
tests, whose other warnings stay errors. Drop both when pyHanko no longer imports the name.
"""

from __future__ import annotations

import warnings

from cryptography.utils import CryptographyDeprecationWarning

warnings.filterwarnings(
    "ignore",
    message="DSA is deprecated",
    category=CryptographyDeprecationWarning,
    module=r"pyhanko\.sign\.signers\.pdf_cms",
)

from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter  # noqa: E402
from pyhanko.sign import signers  # noqa: E402

__all__ = ["IncrementalPdfFileWriter", "signers"]
