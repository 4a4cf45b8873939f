"""Which recognised text identifies someone: pure functions on a string.

Each rule has a name that goes into the report instead of the text: the report says *why*
a region was covered, never what it said, so that it does not become a list of the names
it removed. Rules lean towards covering (recall over precision): a capitalised word that
is not a common sign word is taken for a name.

Decided and documented (README): a date on its own, a time, a price, a percentage and a
word or two of common sign text ("EXIT", "Coffee", "NO PARKING") do not identify anyone
and are left alone under ``identifying``.
"""

from __future__ import annotations

import re

EMAIL = re.compile(r"[\w.+-]+\s?@\s?[\w-]+(\.[\w-]+)+")
HANDLE = re.compile(r"(^|\s)@[A-Za-z0-9_.]{2,}")
URL = re.compile(r"(https?://|www\.)\S+|\S+\.(com|org|net|io|me)\b", re.IGNORECASE)
# A phone number: at least 7 digits, allowing +, spaces, dots, dashes and brackets.
PHONE = re.compile(r"\+?\(?\d[\d\s().\-/]{5,}\d")
PHONE_MIN_DIGITS = 7
# Street address: a house number and a street word, either order of words in between.
STREET = re.compile(
    r"\b\d{1,5}[A-Za-z]?\s+([A-Za-z.']+\s+){0,3}(street|st|avenue|ave|road|rd|lane|ln|blvd|boulevard|"
    r"drive|dr|way|place|pl|court|ct|strasse|straße|rue|via|calle)\b\.?",
    re.IGNORECASE,
)
# Dates, times, prices and percentages on their own are not identifying.
NOT_IDENTIFYING = re.compile(
    r"^\s*(\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}|\d{1,2}:\d{2}(:\d{2})?\s*(am|pm)?|[$€£]\s?\d+([.,]\d+)?|\d+([.,]\d+)?\s?[$€£%])\s*$",
    re.IGNORECASE,
)
# Common words of signs, shops, posters and clothing: text made only of these is not a name.
COMMON_WORDS = frozenset("""
a an and are as at be by for from in is it of on or the to with no not you your we our all new
exit entrance enter open closed close push pull stop go slow caution danger warning private
keep out only staff toilets toilet restroom wc men women ladies gents lift elevator stairs
floor level room hall main north south east west left right up down way this that here there
coffee tea cafe bar restaurant food menu bakery shop store market sale sold offer free off
price today daily special hot cold fresh welcome hello thank thanks please sorry visit
parking park car bus taxi train station airport platform gate ticket tickets information
info office reception help desk police fire emergency hospital pharmacy school library bank
post news city town street road center centre museum church hotel home house life love
peace happy birthday party team club sport sports football game music live festival event
show concert night day week month year time hours open mon tue wed thu fri sat sun monday
tuesday wednesday thursday friday saturday sunday january february march april may june
july august september october november december press media vote yes my name is hi
""".split())
# Recognised text shorter than this (letters and digits) is noise to the rules.
MIN_CHARACTERS = 2


def identifying_rule(text: str) -> str | None:
    """The name of the first rule the text matches, or None when it identifies no one."""
    text = " ".join(text.split())
    alnum = sum(c.isalnum() for c in text)
    if alnum < MIN_CHARACTERS:
        return None
    if EMAIL.search(text):
        return "email"
    if HANDLE.search(text):
        return "handle"
    if URL.search(text):
        return "web address"
    if NOT_IDENTIFYING.match(text):
        return None
    if STREET.search(text):
        return "street address"
    tokens = re.findall(r"[A-Za-z0-9]+", text)
    if any(token.isdigit() and len(token) >= 5 for token in tokens):
        return "long number"  # IDs, account and phone numbers written without spaces
    for match in PHONE.finditer(text):
        if sum(c.isdigit() for c in match.group()) >= PHONE_MIN_DIGITS:
            return "phone number"
    for token in tokens:
        letters, digits = sum(c.isalpha() for c in token), sum(c.isdigit() for c in token)
        if letters and digits and letters + digits >= 4:
            return "letters and digits"  # plates, IDs, serials
    # Licence plates written with a space or dash between the letter and digit groups.
    if re.search(r"\b[A-Z]{1,3}[\s-]?\d{1,4}[\s-]?[A-Z]{0,3}\b", text) and re.search(r"\d", text):
        return "letters and digits"
    words = re.findall(r"[^\W\d_]+", text)
    names = [w for w in words if w[0].isupper() and not common(w.lower()) and len(w) >= 2]
    if names:
        return "name"
    return None


def common(word: str) -> bool:
    """A common word, or common words run together: the recogniser often drops the space
    between the words of a sign ("NOPARKING")."""
    reachable = [True] + [False] * len(word)
    for end in range(1, len(word) + 1):
        reachable[end] = any(reachable[start] and word[start:end] in COMMON_WORDS for start in range(max(0, end - 12), end))
    return reachable[-1]
