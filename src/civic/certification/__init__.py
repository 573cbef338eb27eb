"""Tax certification (seed 004): compute what each customer owes beyond the current portion of
each service, record it with the run's options (collection code, alert message), then apply it
exactly once with Update Customer Balances — payment adjustments per service and period plus a
separate certification fee. ``compute`` is pure; ``run`` talks to the ledger."""
