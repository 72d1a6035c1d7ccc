"""Names of the bundled sample images."""

EN = {
    "samples.camera": "Cameraman (photo, gray)",
    "samples.astronaut": "Astronaut (photo, colour)",
    "samples.coffee": "Coffee cup (photo, colour)",
    "samples.chelsea": "Chelsea the cat (photo, colour)",
    "samples.checkerboard": "Checkerboard",
    "samples.shapes": "Shapes and text",
    "samples.gradient": "Colour gradient",
    "samples.mnist_digit": "MNIST digit (28×28)",
}

ZH = {
    "samples.camera": "摄影师（照片，灰度）",
    "samples.astronaut": "宇航员（照片，彩色）",
    "samples.coffee": "咖啡杯（照片，彩色）",
    "samples.chelsea": "猫咪 Chelsea（照片，彩色）",
    "samples.checkerboard": "棋盘格",
    "samples.shapes": "图形与文字",
    "samples.gradient": "彩色渐变",
    "samples.mnist_digit": "MNIST 手写数字（28×28）",
}
