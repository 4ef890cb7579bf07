#!/usr/bin/env python3
"""Reference values for mlops-core's metrics, from scikit-learn.

Run: python3 tools/reference/metrics_reference.py
Pinned into mlops-core/tests/metrics_sklearn.rs; each value there carries the call below.
Versions used: see the header this script prints.
"""
import warnings

import numpy as np
import sklearn
from sklearn import metrics as M

warnings.simplefilter("ignore")
print(f"# sklearn {sklearn.__version__}, numpy {np.__version__}")

# Case A: multiclass, class 3 occurs but is never predicted.
A_true = [0, 1, 2, 2, 1, 0, 2, 3, 3, 1]
A_pred = [0, 2, 2, 2, 1, 0, 1, 0, 0, 1]
print("A accuracy", repr(M.accuracy_score(A_true, A_pred)))
print("A confusion", M.confusion_matrix(A_true, A_pred).tolist())
p, r, f, s = M.precision_recall_fscore_support(A_true, A_pred, average=None, zero_division=0)
print("A per-class precision", [repr(x) for x in p])
print("A per-class recall", [repr(x) for x in r])
print("A per-class f1", [repr(x) for x in f])
print("A support", s.tolist())
for avg in ["macro", "micro", "weighted"]:
    p, r, f, _ = M.precision_recall_fscore_support(A_true, A_pred, average=avg, zero_division=0)
    print(f"A {avg}", repr(p), repr(r), repr(f))

# Case B: a class (9) predicted but never true; string labels.
B_true = ["b", "a", "a", "c", "b", "a"]
B_pred = ["b", "a", "z", "c", "a", "a"]
p, r, f, s = M.precision_recall_fscore_support(B_true, B_pred, average=None, zero_division=0)
print("B labels", sorted(set(B_true) | set(B_pred)))
print("B per-class precision", [repr(x) for x in p])
print("B per-class recall", [repr(x) for x in r])
print("B per-class f1", [repr(x) for x in f])
for avg in ["macro", "weighted"]:
    p, r, f, _ = M.precision_recall_fscore_support(B_true, B_pred, average=avg, zero_division=0)
    print(f"B {avg}", repr(p), repr(r), repr(f))

# Case C: a single class everywhere.
C = [1, 1, 1]
print("C", M.precision_recall_fscore_support(C, C, average=None, zero_division=0))
print("C accuracy", M.accuracy_score(C, C))

# Case D: binary ROC AUC with ties; binary log loss with 0/1 probabilities (clipping).
D_true = [0, 0, 1, 1, 0, 1, 1, 0, 1, 0]
D_score = [0.1, 0.4, 0.35, 0.8, 0.4, 0.4, 0.9, 0.05, 0.6, 0.7]
print("D roc_auc", repr(M.roc_auc_score(D_true, D_score)))
D_p = [0.0, 0.2, 0.9, 1.0, 0.3, 0.5, 0.99, 0.01, 0.7, 1.0]
print("D log_loss", repr(M.log_loss(D_true, D_p)))
try:
    M.roc_auc_score([1, 1, 1], [0.2, 0.3, 0.4])
except ValueError as e:
    print("D single-class roc_auc raises:", e)

# Case E: multiclass OvR ROC AUC and log loss.
E_true = [0, 1, 2, 2, 1, 0, 1, 2]
E_proba = [
    [0.7, 0.2, 0.1],
    [0.2, 0.5, 0.3],
    [0.1, 0.3, 0.6],
    [0.3, 0.4, 0.3],
    [0.25, 0.25, 0.5],
    [0.5, 0.4, 0.1],
    [0.1, 0.8, 0.1],
    [0.0, 0.0, 1.0],
]
print("E ovr macro", repr(M.roc_auc_score(E_true, E_proba, multi_class="ovr", average="macro")))
print("E ovr weighted", repr(M.roc_auc_score(E_true, E_proba, multi_class="ovr", average="weighted")))
print("E log_loss", repr(M.log_loss(E_true, E_proba, labels=[0, 1, 2])))

# Case F: regression.
F_true = [3.0, -0.5, 2.0, 7.0, 4.2, 0.0, 1e-3]
F_pred = [2.5, 0.0, 2.0, 8.0, 4.0, 0.1, 2e-3]
print("F mae", repr(M.mean_absolute_error(F_true, F_pred)))
print("F mse", repr(M.mean_squared_error(F_true, F_pred)))
print("F rmse", repr(M.root_mean_squared_error(F_true, F_pred)))
print("F r2", repr(M.r2_score(F_true, F_pred)))
print("F mape", repr(M.mean_absolute_percentage_error(F_true, F_pred)))
G = [2.0, 2.0, 2.0]
print("G r2 perfect constant", M.r2_score(G, G), "imperfect", M.r2_score(G, [2.0, 2.0, 2.5]))
