"""Events shared by the API and CLI tests: the business customer acme opens a CLINQ account
(prepay, Düsseldorf) and adds the user anna."""

ACME_OPENED = {
    "id": "o1",
    "type": "account.opened",
    "account": "acme",
    "at": "2026-11-02T09:00:00+01:00",
    "plan": "clinq",
    "customer_type": "business",
    "billing_method": "prepay",
    "country": "DE",
    "area_code": "0211",
}
ANNA_ADDED = {
    "id": "u1",
    "type": "user.added",
    "account": "acme",
    "at": "2026-11-02T09:00:00+01:00",
    "user": "anna",
}
