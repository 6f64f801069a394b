"""The source article's example (docs/conventions.md): TF conv2d_transpose, 'SAME', 2x2 -> 4x4.

    tf.nn.conv2d_transpose(x, f, output_shape=(1, 4, 4, 1), strides=[1, 2, 2, 1], padding='SAME')

with x = [[1, 2], [3, 4]] (NHWC 1x2x2x1) and a 3x3 all-ones filter. The article asserts the result
[[1, 1, 3, 2], [1, 1, 3, 2], [4, 4, 10, 6], [3, 3, 7, 4]].
"""

import numpy as np

INPUT = np.array([[1.0, 2.0], [3.0, 4.0]])
KERNEL = np.ones((3, 3))
STRIDE = 2
OUTPUT_SIZE = 4
PADDING = "SAME"
# Published in the article, not computed here.
EXPECTED = np.array(
    [
        [1.0, 1.0, 3.0, 2.0],
        [1.0, 1.0, 3.0, 2.0],
        [4.0, 4.0, 10.0, 6.0],
        [3.0, 3.0, 7.0, 4.0],
    ]
)
