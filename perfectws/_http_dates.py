"""HTTP-date (RFC 9110 section 5.6.7): written as IMF-fixdate, read in all three forms.

:func:`email.utils.parsedate` is not used to read them: it accepts time zones,
missing fields and much else that is not an HTTP-date, and RFC 9110 13.1.3 and
13.1.5 ask a server to ignore a conditional header whose date is invalid.
"""

from __future__ import annotations

import calendar
import datetime
import re
from email.utils import formatdate

__all__: list[str] = []

_DAY = r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)"
_LONG_DAY = r"(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)"
_MONTHS = tuple("Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split())
_MONTH = "(" + "|".join(_MONTHS) + ")"
_TIME = r"([0-9]{2}):([0-9]{2}):([0-9]{2})"

#: Sun, 06 Nov 1994 08:49:37 GMT
_IMF_FIXDATE = re.compile(
    rf"{_DAY}, ([0-9]{{2}}) {_MONTH} ([0-9]{{4}}) {_TIME} GMT", re.ASCII
)
#: Sunday, 06-Nov-94 08:49:37 GMT (obsolete, RFC 850)
_RFC850_DATE = re.compile(
    rf"{_LONG_DAY}, ([0-9]{{2}})-{_MONTH}-([0-9]{{2}}) {_TIME} GMT", re.ASCII
)
#: Sun Nov  6 08:49:37 1994 (obsolete, C's asctime(); the day is space-padded)
_ASCTIME_DATE = re.compile(
    rf"{_DAY} {_MONTH} ([0-9 ][0-9]) {_TIME} ([0-9]{{4}})", re.ASCII
)


def format_http_date(timestamp: int) -> str:
    """``timestamp`` (seconds since the epoch) as an IMF-fixdate."""
    return formatdate(timestamp, usegmt=True)


def parse_http_date(value: str, now: float) -> int | None:
    """Seconds since the epoch that ``value`` names, or ``None`` if it is no HTTP-date.

    Accepts IMF-fixdate and, as RFC 9110 5.6.7 requires of recipients, the
    obsolete RFC 850 and asctime forms. A two-digit year more than 50 years
    after ``now`` is taken as the century before (5.6.7). The weekday is not
    checked against the date, as the RFC asks of no recipient. Never raises.
    """
    value = value.strip(" \t")
    if match := _IMF_FIXDATE.fullmatch(value):
        day, month, year, hour, minute, second = match.groups()
    elif match := _ASCTIME_DATE.fullmatch(value):
        month, day, hour, minute, second, year = match.groups()
    elif match := _RFC850_DATE.fullmatch(value):
        day, month, short_year, hour, minute, second = match.groups()
        this_year = datetime.datetime.fromtimestamp(now, datetime.UTC).year
        year_number = this_year - this_year % 100 + int(short_year)
        if year_number > this_year + 50:
            year_number -= 100
        year = str(year_number)
    else:
        return None
    fields = (int(year), _MONTHS.index(month) + 1, int(day.strip()))
    clock = (int(hour), int(minute), int(second))
    try:
        datetime.date(*fields)  # rejects 30 Feb and day 00
    except ValueError:
        return None
    # Second 60 is a leap second, which the grammar allows.
    if clock[0] > 23 or clock[1] > 59 or clock[2] > 60:
        return None
    return calendar.timegm(fields + clock)
