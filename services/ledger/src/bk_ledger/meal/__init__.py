"""Meals: accompanying meals (陪餐) by school leaders, and the dishes served with their ingredients."""
