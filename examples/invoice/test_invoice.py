import unittest

from invoice import amount_due, discount_rate, line_total


class InvoiceTest(unittest.TestCase):
    def test_line_total(self):
        self.assertEqual(line_total(3, 2.5), 7.5)

    def test_no_discount_below_ten(self):
        self.assertEqual(discount_rate(9), 0.0)

    def test_ten_percent_from_ten(self):
        self.assertEqual(discount_rate(10), 0.10)

    def test_twenty_percent_from_fifty(self):
        self.assertEqual(discount_rate(50), 0.20)

    def test_amount_due(self):
        self.assertEqual(amount_due([(2, 5.0), (50, 1.0)]), 50.0)


if __name__ == "__main__":
    unittest.main()
