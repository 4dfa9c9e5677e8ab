"""Training code of the shipped models: boosted and resolved top taggers, event DNN.

Entry point: :func:`workflows.train.train_all`. Modules: ``truth`` (GenPart labels),
``particles`` (fat-jet constituent tensors), ``particlenet`` (EdgeConv tagger),
``resolved`` (trijet xgboost), ``event_dnn`` (two-fold MLP), ``cards`` (model metadata),
``toy_events`` (stand-in NanoAOD-layout event source), ``substructure`` (soft drop, tau_N).
"""
