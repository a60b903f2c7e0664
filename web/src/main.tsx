/**
 * The dashboard's entry: the theme, then the app (or the sign-in page without a token).
 */
import { render } from 'preact';
import { App } from './app';
import { applyTheme } from './theme';
import './styles.css';

applyTheme();
render(<App />, document.getElementById('app')!);
