"""ACME certificates for customer click domains: account, HTTP-01 orders, renewal schedule."""
