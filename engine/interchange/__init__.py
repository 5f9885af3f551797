"""Files for banks, the accountant and the tax office: SEPA in and out, DATEV, EU sales list."""
