"""What a customer is charged (AGB 3, 4; CLINQ SD 1.3, 2): calls, credit, invoices, credit notes."""
