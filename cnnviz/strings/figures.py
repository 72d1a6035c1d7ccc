"""Words on the charts: the fields of ``cnnviz.train_figures.FigureText`` ("fig.<field>") and the hovers of
``cnnviz.figures``. Templates keep their {placeholders}: the figure builders fill them with plotly's tokens."""

EN = {
    "fig.loss": "loss",
    "fig.accuracy": "accuracy",
    "fig.learning_rate": "learning rate",
    "fig.step": "step",
    "fig.step_at": "step {step}: {value}",
    "fig.this_run": "{label} (this run)",
    "fig.raw_loss": "raw loss",
    "fig.train_loss": "train loss (smoothed)",
    "fig.test_loss": "test loss",
    "fig.train_accuracy": "train accuracy (smoothed)",
    "fig.test_accuracy": "test accuracy",
    "fig.true_digit": "true digit",
    "fig.predicted_digit": "predicted digit",
    "fig.confusion_at": "true {true}, predicted {predicted}: {count}",
    "fig.digit": "digit",
    "fig.digit_at": "digit {digit}: {accuracy}",
    "fig.heatmap_at": "row {row}, col {col}: {value}",
    "fig.histogram_at": "{value}: {count} values",
}

ZH = {
    "fig.loss": "损失",
    "fig.accuracy": "准确率",
    "fig.learning_rate": "学习率",
    "fig.step": "训练步数",
    "fig.step_at": "第 {step} 步：{value}",
    "fig.this_run": "{label}（本次训练）",
    "fig.raw_loss": "原始损失",
    "fig.train_loss": "训练损失（平滑）",
    "fig.test_loss": "测试损失",
    "fig.train_accuracy": "训练准确率（平滑）",
    "fig.test_accuracy": "测试准确率",
    "fig.true_digit": "真实数字",
    "fig.predicted_digit": "预测数字",
    "fig.confusion_at": "真实 {true}，预测 {predicted}：{count} 张",
    "fig.digit": "数字",
    "fig.digit_at": "数字 {digit}：{accuracy}",
    "fig.heatmap_at": "第 {row} 行，第 {col} 列：{value}",
    "fig.histogram_at": "{value}：{count} 个值",
}
