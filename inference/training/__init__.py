"""Training code of the shipped models: boosted and resolved top taggers, event DNN.

This package sits above ``analysis`` (it trains on the analysis' own features and
preselection); nothing that runs during processing imports it. Entry point:
:func:`workflows.train.train_all`. Modules: ``samples`` (generated samples, preselected as
the analysis does), one per model family (``boosted`` with the ``particlenet`` network,
``resolved``, ``dnn_training`` with the ``event_dnn`` MLP), ``truth`` (GenPart labels),
``preprocessing`` (input standardisation), ``cards`` (model metadata), ``dataset`` (reading
and splitting), ``metrics``, ``substructure`` (soft drop, tau_N) and ``toy_events`` (a small
stand-in NanoAOD-layout source for unit tests).
"""
