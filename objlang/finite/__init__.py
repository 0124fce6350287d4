"""Finite environments: extraction (:mod:`.extract`), products with automata
(:mod:`.product`), exact solvers (:mod:`.reach`, :mod:`.discounted`,
:mod:`.average`, :mod:`.lp`) and the ``solve`` entry point (:mod:`.solve`)."""
