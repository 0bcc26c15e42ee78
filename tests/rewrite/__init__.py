"""Tests of control.rewrite: rules, properties, and the template corpus."""
