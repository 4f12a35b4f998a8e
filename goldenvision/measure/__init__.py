"""Dimensions in millimetres: subpixel calipers, fitted lines and circles, gauge R&R.

The measuring tools follow the measure handles of HALCON and Cognex's Caliper tool:

* A **caliper** is a rectangle laid across an edge. Its 1D **profile** runs along the
  long axis and is the mean grey level across the band (``width_px``), sampled bilinearly
  at subpixel positions (:func:`caliper_profile`).
* **Edges** are extrema of the Gaussian-derivative response of the profile (Canny 1986),
  located first by a parabola through the three samples at the peak (the usual baseline,
  ~0.1 px RMS), then **refined by least squares** of a blurred-step model
  ``I(x) = a + b erf((x - x0) / (sqrt(2) s))`` (the step response of a Gaussian optical
  system) on a window around the peak (:func:`find_edges`). Edges whose blur overlaps
  (narrow bars 2-6 px wide, close parallel edges) are fitted **jointly** with one shared
  ``s``: ``I(x) = a + sum_k b_k erf((x - x_k) / (sqrt(2) s))``, so a bar's width is not
  biased by the neighbouring edge (the Gaussian-derivative peaks of a bar narrower than
  about ``2 s`` sit at ``±s`` whatever the true width; see Canny 1986, §IV, and
  Ye, Fu & Poudel 2005 for the erf edge model).
* **Lines** and **circles** are fitted to many caliper edges (:func:`fit_line` with
  OpenCV's Huber M-estimator, :func:`fit_circle` with the algebraic Kåsa fit followed
  by a geometric least-squares fit with outlier rejection; Kåsa 1976, Chernov 2010).
* **Dimensions** of a spec (:class:`goldenvision.spec.DimensionSpec`) are placed in golden
  px, mapped into the unit image through the registration
  (:func:`goldenvision.transform.map_points_to_moving`) and measured **in unit px**; the
  result times ``scale_mm_per_px`` is mm (docs/DESIGN.md, "Frames and units").
* **Gauge R&R** (:func:`gauge_rr`) by the ANOVA method of the AIAG MSA manual, 4th ed.

Grey images
-----------
``gray`` is ``(H, W)`` uint8, uint16 or float (any range; grey levels are taken as given,
so thresholds and residuals are in the same units), or ``(H, W, 3)`` uint8/float RGB,
which is converted to luma ``Y' = 0.299 R + 0.587 G + 0.114 B`` (ITU-R BT.601, as
``cv2.COLOR_RGB2GRAY``). Pixel centres are at integer coordinates ``(x, y)``.

References
----------
.. [1] J. Canny, "A computational approach to edge detection", IEEE TPAMI 8(6), 1986.
       doi:10.1109/TPAMI.1986.4767851
.. [2] J. Ye, G. Fu, U. P. Poudel, "High-accuracy edge detection with Blurred Edge Model",
       Image and Vision Computing 23(5), 2005. doi:10.1016/j.imavis.2004.07.007
.. [3] I. Kåsa, "A circle fitting procedure and its error analysis", IEEE Trans. Instrum.
       Meas. IM-25(1), 1976. doi:10.1109/TIM.1976.6312298
.. [4] N. Chernov, "Circular and Linear Regression: Fitting Circles and Lines by Least
       Squares", CRC Press, 2010.
.. [5] AIAG, "Measurement Systems Analysis, Reference Manual", 4th ed., 2010, Chapter III,
       Section B (Average and Range method; Analysis of Variance method), and
       D. C. Montgomery, "Introduction to Statistical Quality Control", 7th ed., §8.7.

Layout: :mod:`.calipers` (profiles, edges), :mod:`.fitting` (lines, circles),
:mod:`.dimensions` (spec dimensions through a registration; widths read along their edges),
:mod:`.scale_reference` (in the golden frame, the scale taken from the parts that are not
measured), :mod:`.gauge` (gauge R&R).
"""

from __future__ import annotations

from .calipers import Edge, Polarity, Select, caliper_profile, find_edges, measure_caliper_edges
from .dimensions import AMBIGUITY_RATIO, RELATIVE_THRESHOLD, measure_dimension, measure_dimensions
from .fitting import (
    CircleFit,
    LineFit,
    fit_circle,
    fit_line,
    line_angle_deg,
    line_line_distance,
    measure_circle,
    measure_line,
    point_line_distance,
)
from .gauge import GaugeStudy, gauge_rr
from .reference import DimensionReference

__all__ = [
    "Edge",
    "LineFit",
    "CircleFit",
    "GaugeStudy",
    "caliper_profile",
    "find_edges",
    "measure_caliper_edges",
    "measure_line",
    "measure_circle",
    "fit_line",
    "fit_circle",
    "line_angle_deg",
    "point_line_distance",
    "line_line_distance",
    "measure_dimension",
    "measure_dimensions",
    "DimensionReference",
    "gauge_rr",
    "Polarity",
    "Select",
    "RELATIVE_THRESHOLD",
    "AMBIGUITY_RATIO",
]
