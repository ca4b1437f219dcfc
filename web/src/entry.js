// Bundle entry: styles first (esbuild emits them as one CSS file), then the page.
import 'uplot/dist/uPlot.min.css';
import './app.css';
import './main.js';
