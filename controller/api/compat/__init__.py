"""Servicers of the documented systems (aifarm.compat.*): they only map shapes onto the domain."""
