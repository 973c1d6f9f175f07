"""Who a case goes to: the one routing policy (pool_policy), the queue, places and escalation."""
