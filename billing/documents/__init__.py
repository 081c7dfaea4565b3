"""Issued billing documents as values and their rendering.

* :mod:`billing.documents.model`: the immutable :class:`Document` (what is stored
  as JSON and rendered), totals per VAT rate, reverse charge, cancellations.
* :mod:`billing.documents.texts`: pre-/post-texts with ``{{field}}`` placeholders,
  filled from a whitelist only.
* :mod:`billing.documents.einvoice`: EN 16931 CII XML (Factur-X EN 16931 profile).
* :mod:`billing.documents.pdf`: PDF/A-3B with the XML embedded (Factur-X).

Pure code: no database access.
"""
