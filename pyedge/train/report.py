"""The readable side of report.json: the tables `pyedge train` and `pyedge evaluate` print."""

from __future__ import annotations

from pathlib import Path

METRICS = (("accuracy", "accuracy"), ("precision_macro", "precision"), ("recall_macro", "recall"),
           ("f1_macro", "F1"))
MODELS = (("float", "float32 (Keras)"), ("int8", "int8 (pyedge)"))


def _bytes(n: int) -> str:
    return f"{n:,} B" if n < 10_000 else f"{n / 1024:,.1f} KiB"


def _table(rows: list[tuple[str, ...]], indent: str = "  ") -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [indent + "  ".join([row[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(row[1:], widths[1:])])
            for row in rows]


REGRESSION_METRICS = (("mae", "MAE"), ("rmse", "RMSE"), ("r2", "R²"), ("max_abs_error", "max |error|"))


def _litert_line(evaluation: dict) -> list[str]:
    litert = evaluation.get("litert")
    if litert is None:
        return []
    verdict = "yes, bit for bit" if litert["identical"] else f"NO, {litert['rows_differing']} rows differ"
    return [f"pyedge outputs == {litert['interpreter']}: {verdict} ({litert['rows']:,} rows)"]


def regression_lines(evaluation: dict, title: str) -> list[str]:
    """MAE, RMSE, R² per model, the int8 model's distance from the float one, the LiteRT check."""
    rows = [(f"{title} ({evaluation['rows']:,} rows)", *(name for _, name in REGRESSION_METRICS))]
    for key, name in MODELS:
        if key in evaluation:
            rows.append((name, *(f"{evaluation[key][metric]:.3f}" if metric == "r2" else
                                 f"{evaluation[key][metric]:.4g}" for metric, _ in REGRESSION_METRICS)))
    lines = _table(rows, "")
    lines.append("  (in the label's units; R² = 1 is perfect, 0 is as good as predicting the mean)")
    if "int8_vs_float" in evaluation:
        gap = evaluation["int8_vs_float"]
        lines.append(f"int8 vs float32 predictions: mean |difference| {gap['mae']:.4g}, "
                     f"max {gap['max_abs']:.4g}")
    return lines + _litert_line(evaluation)


def evaluation_lines(evaluation: dict, title: str) -> list[str]:
    """Macro metrics per model, agreement, the LiteRT check and the int8 model's per-class table."""
    if evaluation.get("task") == "regression":
        return regression_lines(evaluation, title)
    header = (f"{title} ({evaluation['rows']:,} rows)", *(name for _, name in METRICS))
    rows = [header]
    for key, name in MODELS:
        if key in evaluation:
            rows.append((name, *(f"{evaluation[key][metric]:.4f}" for metric, _ in METRICS)))
    lines = _table(rows, "")
    lines.append("  (precision, recall and F1: macro averages over the classes)")
    if "agreement" in evaluation:
        lines.append(f"agreement float32 vs int8: {100 * evaluation['agreement']:.2f} % of rows predict "
                     "the same class")
    lines += _litert_line(evaluation)
    per_class = [("class (int8)", "precision", "recall", "F1", "support")]
    per_class += [(str(c["class"]), f"{c['precision']:.3f}", f"{c['recall']:.3f}", f"{c['f1']:.3f}",
                   f"{c['support']:,}") for c in evaluation["int8"]["per_class"]]
    return [*lines, "", *_table(per_class, "")]


def model_lines(facts: dict) -> list[str]:
    lines = [f"model: {facts['architecture']}"
             + (f", {facts['parameters']:,} parameters, {facts['macs_per_row']:,} MACs per row"
                if "parameters" in facts else ""),
             f"pyedge backend: {facts['backend']}"]
    sizes = []
    if "keras_file_bytes" in facts:
        sizes.append(f"model.keras {_bytes(facts['keras_file_bytes'])}")
    sizes.append(f"model.tflite {_bytes(facts['tflite_bytes'])} (gzip {_bytes(facts['tflite_gzip_bytes'])})")
    if "float32_parameter_bytes" in facts:
        sizes.append(f"float32 parameters alone {_bytes(facts['float32_parameter_bytes'])}")
    lines.append("sizes: " + ", ".join(sizes))
    return lines


def _names(names: list[str], shown: int = 12) -> str:
    if len(names) <= shown + 4:  # eliding fewer than five names saves nothing
        return ", ".join(names)
    return ", ".join(names[:shown]) + f", ... ({len(names)} in all)"


def training_summary(report: dict, files: dict[str, Path]) -> str:
    data, training = report["data"], report["training"]
    if data.get("task") == "regression":
        target = data["target"]
        what, split = (f"a value to predict (mean {target['mean']:.4g}, std {target['std']:.4g}; "
                       f"{training.get('loss') or 'mse'} loss)", "random")
    else:
        what, split = f"{len(data['classes'])} classes", "stratified"
    lines = [f"data: {data['source']}: {data['rows']:,} rows x {data['features']} features, "
             f"{what}; {data['train_rows']:,} to train, "
             f"{data['validation_rows']:,} to validate ({split}, seed {training['seed']})"]
    if data.get("feature_names"):
        lines.append(f"features (stored in model.tflite, matched by name): {_names(data['feature_names'])}")
    if data["dropped"]:
        shown = ", ".join(data["dropped"][:10]) + (" ..." if len(data["dropped"]) > 10 else "")
        lines.append(f"left out for missing values: {len(data['dropped'])} rows ({shown})")
    stopped = (f", stopped early (best epoch {training['best_epoch']})"
               if "best_epoch" in training else "")
    lines.append(f"trained {training['epochs_run']} epochs{stopped}; int8 calibration on "
                 f"{report['quantization']['calibration_rows_used']:,} training rows")
    pruning = report.get("pruning")
    if pruning:
        lines.append(f"pruned {100 * pruning['fraction']:.0f} % of the Dense weights and fine-tuned "
                     f"{pruning['fine_tune_epochs']} epochs: sparsity "
                     f"{100 * pruning['sparsity_before']:.1f} % "
                     f"-> {100 * pruning['sparsity_after']:.1f} %, model.tflite gzip "
                     f"{_bytes(pruning['tflite_gzip_bytes_before'])} -> "
                     f"{_bytes(pruning['tflite_gzip_bytes_after'])}; float32 validation accuracy "
                     f"{pruning['float_accuracy_before']:.4f} -> {pruning['float_accuracy_after']:.4f}")
    lines += model_lines(report["model"])
    lines += ["", *evaluation_lines(report["validation"], "validation"), ""]
    lines += [f"{name:<10} {path}" for name, path in files.items()]
    return "\n".join(lines)


def evaluation_summary(evaluation: dict, facts: dict, files: dict[str, Path]) -> str:
    dropped = evaluation.get("dropped") or []
    left_out = (f"; left out for missing values: {len(dropped)} rows ({', '.join(dropped[:10])}"
                f"{' ...' if len(dropped) > 10 else ''})" if dropped else "")
    lines = [f"data: {evaluation['data']}{left_out}"]
    if evaluation.get("features"):
        lines.append(f"columns matched by name to the model's features: {_names(evaluation['features'])}")
    else:
        lines.append("columns taken in file order (the model carries no feature names)")
    if evaluation.get("ignored_columns"):
        lines.append(f"columns ignored (not features of the model): {_names(evaluation['ignored_columns'])}")
    lines += [*model_lines(facts), "",
             *evaluation_lines(evaluation, "evaluation"), ""]
    lines += [f"{name:<10} {path}" for name, path in files.items()]
    return "\n".join(lines)
