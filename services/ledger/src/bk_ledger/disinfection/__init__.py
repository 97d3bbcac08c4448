"""Tableware disinfection (餐具消毒): method, temperature or concentration, and how long."""
