"""The host side: cardholder data and inputs, issuer keys, the personalization flow, batches.

May import ``apdu`` and ``cardspec``, never ``cardsim``: the host talks to a card only
through a transport.
"""
