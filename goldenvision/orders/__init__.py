"""The order's evidence chain: PO, pre-production sample, DUPRO and PSI lots, the signed dossier.

See :mod:`goldenvision.orders.core` (orders in the store and their timeline),
:mod:`goldenvision.orders.pps` (the PPS proposal) and :mod:`goldenvision.orders.dossier`
(the tamper-evident file and its verification).
"""

from .core import FOCUS_KINDS, OrderError, attach_lot, decide_pps, new_order, review_pps, show_order
from .dossier import DossierCheck, countersign, recommend, verify_dossier, write_dossier
from .pps import OUTCOMES, PpsProposal, propose

__all__ = [
    "OrderError", "new_order", "show_order", "review_pps", "decide_pps", "attach_lot", "FOCUS_KINDS",
    "write_dossier", "verify_dossier", "countersign", "recommend", "DossierCheck", "OUTCOMES", "PpsProposal", "propose",
]
