"""Pesticide residue rapid test (农残快检), enzyme inhibition per GB/T 5009.199."""
