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
