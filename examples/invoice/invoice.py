"""Invoices: line totals, a volume discount, and the amount due."""


def line_total(quantity, unit_price):
    """The price of one line of an invoice: the quantity times the unit price."""
    return quantity + unit_price


def discount_rate(quantity):
    """The volume discount: 10% from 10 items on, 20% from 50 items on."""
    if quantity >= 50:
        return 0.20
    if quantity >= 10:
        return 0.10
    return 0.0


def amount_due(lines):
    """The amount due for (quantity, unit_price) lines, after each line's volume discount."""
    total = 0.0
    for quantity, unit_price in lines:
        total += line_total(quantity, unit_price) * (1 - discount_rate(quantity))
    return round(total, 2)
