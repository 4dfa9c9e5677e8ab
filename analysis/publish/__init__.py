"""Publication: HEPData tables, b-tagging and top-tagger efficiency maps (HEPData and
correctionlib), ROC curves, the bundle metadata of the ONNX models and the generator-level
worked example."""
