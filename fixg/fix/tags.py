"""Tag numbers the codec and the session layer use by name, and the built-in table of
length-prefixed data fields (used when no dictionary is given)."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

__all__ = [
    "BEGIN_STRING",
    "BODY_LENGTH",
    "CHECK_SUM",
    "MSG_TYPE",
    "MSG_SEQ_NUM",
    "SENDER_COMP_ID",
    "TARGET_COMP_ID",
    "SENDING_TIME",
    "ORIG_SENDING_TIME",
    "POSS_DUP_FLAG",
    "POSS_RESEND",
    "SENDER_SUB_ID",
    "TARGET_SUB_ID",
    "SENDER_LOCATION_ID",
    "TARGET_LOCATION_ID",
    "ON_BEHALF_OF_COMP_ID",
    "DELIVER_TO_COMP_ID",
    "TEST_REQ_ID",
    "HEART_BT_INT",
    "ENCRYPT_METHOD",
    "RESET_SEQ_NUM_FLAG",
    "BEGIN_SEQ_NO",
    "END_SEQ_NO",
    "NEW_SEQ_NO",
    "GAP_FILL_FLAG",
    "REF_SEQ_NUM",
    "REF_TAG_ID",
    "REF_MSG_TYPE",
    "SESSION_REJECT_REASON",
    "TEXT",
    "DEFAULT_APPL_VER_ID",
    "DEFAULT_DATA_LENGTH_TAGS",
]

BEGIN_STRING: Final = 8
BODY_LENGTH: Final = 9
CHECK_SUM: Final = 10
MSG_TYPE: Final = 35
MSG_SEQ_NUM: Final = 34
SENDER_COMP_ID: Final = 49
TARGET_COMP_ID: Final = 56
SENDING_TIME: Final = 52
ORIG_SENDING_TIME: Final = 122
POSS_DUP_FLAG: Final = 43
POSS_RESEND: Final = 97
SENDER_SUB_ID: Final = 50
TARGET_SUB_ID: Final = 57
SENDER_LOCATION_ID: Final = 142
TARGET_LOCATION_ID: Final = 143
ON_BEHALF_OF_COMP_ID: Final = 115
DELIVER_TO_COMP_ID: Final = 128
TEST_REQ_ID: Final = 112
HEART_BT_INT: Final = 108
ENCRYPT_METHOD: Final = 98
RESET_SEQ_NUM_FLAG: Final = 141
BEGIN_SEQ_NO: Final = 7
END_SEQ_NO: Final = 16
NEW_SEQ_NO: Final = 36
GAP_FILL_FLAG: Final = 123
REF_SEQ_NUM: Final = 45
REF_TAG_ID: Final = 371
REF_MSG_TYPE: Final = 372
SESSION_REJECT_REASON: Final = 373
TEXT: Final = 58
DEFAULT_APPL_VER_ID: Final = 1137

#: Length tag -> data tag for the length-prefixed (DATA / XMLDATA) fields of FIX 4.0 to
#: FIX 5.0 SP2 and FIXT.1.1. The decoder uses it when no dictionary is given.
DEFAULT_DATA_LENGTH_TAGS: Final[Mapping[int, int]] = MappingProxyType(
    {
        90: 91,  # SecureDataLen -> SecureData
        93: 89,  # SignatureLength -> Signature
        95: 96,  # RawDataLength -> RawData
        212: 213,  # XmlDataLen -> XmlData
        348: 349,  # EncodedIssuerLen -> EncodedIssuer
        350: 351,  # EncodedSecurityDescLen -> EncodedSecurityDesc
        352: 353,  # EncodedListExecInstLen -> EncodedListExecInst
        354: 355,  # EncodedTextLen -> EncodedText
        356: 357,  # EncodedSubjectLen -> EncodedSubject
        358: 359,  # EncodedHeadlineLen -> EncodedHeadline
        360: 361,  # EncodedAllocTextLen -> EncodedAllocText
        362: 363,  # EncodedUnderlyingIssuerLen -> EncodedUnderlyingIssuer
        364: 365,  # EncodedUnderlyingSecurityDescLen -> EncodedUnderlyingSecurityDesc
        445: 446,  # EncodedListStatusTextLen -> EncodedListStatusText
        618: 619,  # EncodedLegIssuerLen -> EncodedLegIssuer
        621: 622,  # EncodedLegSecurityDescLen -> EncodedLegSecurityDesc
        1184: 1185,  # SecurityXMLLen -> SecurityXML
        1277: 1278,  # DerivativeEncodedIssuerLen -> DerivativeEncodedIssuer
        1280: 1281,  # DerivativeEncodedSecurityDescLen -> DerivativeEncodedSecurityDesc
        1282: 1283,  # DerivativeSecurityXMLLen -> DerivativeSecurityXML
        1397: 1398,  # EncodedMktSegmDescLen -> EncodedMktSegmDesc
        1401: 1402,  # EncryptedPasswordLen -> EncryptedPassword
        1403: 1404,  # EncryptedNewPasswordLen -> EncryptedNewPassword
        1468: 1469,  # EncodedSecurityListDescLen -> EncodedSecurityListDesc
        1578: 1579,  # EncodedEventTextLen -> EncodedEventText
        1620: 1621,  # InstrumentScopeEncodedSecurityDescLen -> ...EncodedSecurityDesc
        1664: 1665,  # EncodedRejectTextLen -> EncodedRejectText
        1733: 1734,  # EncodedFirmAllocTextLen -> EncodedFirmAllocText
        1871: 1872,  # LegSecurityXMLLen -> LegSecurityXML
        1874: 1875,  # UnderlyingSecurityXMLLen -> UnderlyingSecurityXML
        2072: 2073,  # EncodedUnderlyingEventTextLen -> EncodedUnderlyingEventText
        2074: 2075,  # EncodedLegEventTextLen -> EncodedLegEventText
    }
)
